"""Schemathesis hooks for the order service: generated orders name the seeded user and product,
so that schema-valid requests reach the service's logic instead of stopping at INVALID_USER or
PRODUCT_NOT_FOUND (both tested on their own). Only a value that is already a non-empty string is
replaced, so a case generated to break the schema still breaks it."""

import schemathesis

SEEDED_USER = "user_123"
SEEDED_PRODUCT = "prod_001"


def _replace(holder, key, value):
    if isinstance(holder, dict) and isinstance(holder.get(key), str) and holder[key]:
        holder[key] = value


# A case hook, since schemathesis applies those in every phase (coverage included).
@schemathesis.hook
def map_case(ctx, case):
    operation = case.operation
    if operation.method.upper() == "POST" and operation.path == "/api/v1/orders":
        body = case.body
        _replace(body, "userId", SEEDED_USER)
        items = body.get("items") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            _replace(item, "productId", SEEDED_PRODUCT)
    return case
