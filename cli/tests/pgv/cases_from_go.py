#!/usr/bin/env python3
"""Turns protoc-gen-validate's harness cases (tests/harness/executor/cases.go) into cases.json.

Each Go composite literal becomes a JSON value that keeps the Go shape (type names, Go field
names, enum constants as written), so no knowledge of the contracts is needed here: the test that
reads cases.json builds each message from its descriptors. Usage:

    git show <commit>:tests/harness/executor/cases.go | python3 cases_from_go.py > cases.json

Value forms: {"type": "cases.FloatConst" | null, "fields": {...}} for a struct, a list for a
slice, {"map": [[key, value], ...]} for a map, {"num": "1.5"} for a number (also "inf", "-inf",
"nan"), {"bytes": [...]} for []byte, {"enum": "cases.TestEnum_ONE"}, {"now": seconds} for
time.Now().Unix() plus seconds, strings, booleans and null.
"""

import json
import re
import sys

TOKEN = re.compile(
    r"""\s*(?:
    (?P<comment>//[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}\[\](),:&*+.-])
    )""",
    re.VERBOSE,
)

LIMITS = {
    "math.MaxInt32": 2**31 - 1,
    "math.MinInt32": -(2**31),
    "math.MaxInt64": 2**63 - 1,
    "math.MinInt64": -(2**63),
    "math.MaxUint32": 2**32 - 1,
    "math.MaxUint64": 2**64 - 1,
}


def tokenize(text):
    tokens, at = [], 0
    while at < len(text):
        match = TOKEN.match(text, at)
        if not match or match.end() == at:
            if text[at:].strip() == "":
                break
            raise SyntaxError(f"cannot read {text[at:at + 40]!r}")
        at = match.end()
        kind = match.lastgroup
        if kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


class Parser:
    def __init__(self, tokens):
        self.tokens, self.at = tokens, 0

    def peek(self, offset=0):
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, expected=None):
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise SyntaxError(f"expected {expected!r}, found {token[1]!r} at token {self.at}")
        self.at += 1
        return token

    def value(self):
        kind, text = self.peek()
        if text == "&":
            self.take()
            return self.value()
        if text == "-":
            self.take()
            inner = self.value()
            return {"num": negate(inner["num"])}
        if text == "{":
            return self.struct(None)
        if text == "[":
            return self.slice()
        if kind == "string":
            self.take()
            raw = go_string(text)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return {"bytes": list(raw)}
        if kind == "raw":
            self.take()
            return text[1:-1]
        if kind == "number":
            self.take()
            number = str(int(text, 16)) if text.lower().startswith("0x") else text
            return self.arithmetic({"num": number})
        if kind == "ident":
            return self.ident()
        raise SyntaxError(f"unexpected {text!r} at token {self.at}")

    def arithmetic(self, left):
        # Only `time.Now().Unix() + n` and `- n` occur; numbers stand alone.
        return left

    def ident(self):
        _, name = self.take()
        if name == "nil":
            return None
        if name in ("true", "false"):
            return name == "true"
        if name in LIMITS:
            return {"num": str(LIMITS[name])}
        if name == "math.Inf":
            self.take("(")
            sign = self.value()
            self.take(")")
            return {"num": "-inf" if sign["num"].startswith("-") else "inf"}
        if name == "math.NaN":
            self.take("(")
            self.take(")")
            return {"num": "nan"}
        if name == "timestamppb.Now":
            self.take("(")
            self.take(")")
            return {"type": "timestamppb.Timestamp", "fields": {"Seconds": {"now": 0}}}
        if name == "time.Now":
            for expected in ["(", ")"]:
                self.take(expected)
            self.take(".")
            self.take()  # Unix
            for expected in ["(", ")"]:
                self.take(expected)
            offset = 0
            while self.peek()[1] in ("+", "-"):
                sign = -1 if self.take()[1] == "-" else 1
                offset += sign * int(self.take()[1])
            return {"now": offset}
        if name.endswith(".Unix"):
            raise SyntaxError("unexpected .Unix")
        if self.peek()[1] == "{":
            return self.struct(name)
        if self.peek()[1] == "(":
            # A constructor such as `wrapperspb.Int64(63).Value` (a pointer to an optional
            # scalar) stands for its argument.
            self.take("(")
            inner = self.value()
            self.take(")")
            if self.peek()[1] == ".":
                self.take(".")
                self.take()
            return inner
        return {"enum": name}

    def struct(self, type_name):
        self.take("{")
        fields, items = {}, []
        while self.peek()[1] != "}":
            kind, text = self.peek()
            if kind == "ident" and self.peek(1)[1] == ":" and "." not in text:
                self.take()
                self.take(":")
                fields[text] = self.value()
            else:
                items.append(self.value())
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        if items and not fields:
            return items
        return {"type": type_name, "fields": fields}

    def slice(self):
        self.take("[")
        if self.peek()[1] == "]":
            self.take("]")
            element = self.type_name()
            if element == "byte":
                if self.peek()[1] == "(":
                    self.take("(")
                    _, literal = self.take()
                    self.take(")")
                    raw = go_string(literal) if literal.startswith('"') else literal[1:-1].encode()
                    return {"bytes": list(raw)}
                values = self.elements()
                return {"bytes": [int(v["num"]) for v in values]}
            return self.elements()
        raise SyntaxError("arrays with a length do not occur")

    def type_name(self):
        name = ""
        while self.peek()[1] == "*":
            self.take()
        if self.peek()[0] == "ident" and self.peek()[1] == "map":
            raise SyntaxError("map inside a slice type")
        return self.take()[1]

    def elements(self):
        self.take("{")
        values = []
        while self.peek()[1] != "}":
            values.append(self.value())
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return values


def map_literal(parser):
    # map[K]V{key: value, ...}
    parser.take("[")
    parser.type_name()
    parser.take("]")
    parser.type_name()
    parser.take("{")
    entries = []
    while parser.peek()[1] != "}":
        key = parser.value()
        parser.take(":")
        entries.append([key, parser.value()])
        if parser.peek()[1] == ",":
            parser.take()
    parser.take("}")
    return {"map": entries}


original_ident = Parser.ident


def ident_with_maps(self):
    if self.peek()[1] == "map" and self.peek(1)[1] == "[":
        self.take()
        return map_literal(self)
    return original_ident(self)


Parser.ident = ident_with_maps


def negate(number):
    return number[1:] if number.startswith("-") else "-" + number


def go_string(text):
    """The bytes of a Go interpreted string literal (with its quotes)."""
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39, '"': 34}
    body, out, at = text[1:-1], bytearray(), 0
    while at < len(body):
        char = body[at]
        if char != "\\":
            out += char.encode("utf-8")
            at += 1
            continue
        escape = body[at + 1]
        if escape in simple:
            out.append(simple[escape])
            at += 2
        elif escape in "01234567":
            out.append(int(body[at + 1:at + 4], 8))
            at += 4
        elif escape == "x":
            out.append(int(body[at + 2:at + 4], 16))
            at += 4
        elif escape in "uU":
            width = 4 if escape == "u" else 8
            out += chr(int(body[at + 2:at + 2 + width], 16)).encode("utf-8")
            at += 2 + width
        else:
            raise SyntaxError(f"unknown escape in {text}")
    return bytes(out)


def main():
    source = sys.stdin.read()
    cases = []
    for block in re.finditer(r"^var (\w+) = \[\]TestCase\{\n(.*?)^\}", source, re.M | re.S):
        parser = Parser(tokenize(block.group(2)))
        while parser.at < len(parser.tokens):
            parser.take("{")
            name = go_string(parser.take()[1]).decode("utf-8")
            parser.take(",")
            message = parser.value()
            parser.take(",")
            failures = int(parser.take()[1])
            parser.take("}")
            if parser.peek()[1] == ",":
                parser.take()
            cases.append({"set": block.group(1), "name": name, "message": message, "failures": failures})
    json.dump(cases, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
