//! JWT bearer authentication, the same on both transports, on when `auth` is configured. Calls to
//! the contracts' services then carry `authorization: Bearer TOKEN`, signed with the configured
//! HS256 secret and not expired; the token's [`Claims`] travel in the request's extensions, where
//! the service reads them whichever transport the call came by. Operational endpoints (health,
//! readiness, metrics, API docs, gRPC health and reflection) stay open.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use micro_runtime::errors::Error;
use serde::{Deserialize, Serialize};

use crate::conf;

/// HS256 keys shorter than the hash (32 bytes) weaken it; such a secret is refused at start-up.
const MIN_SECRET_BYTES: usize = 32;

/// What a valid token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who is calling, e.g. a user id.
    pub sub: String,
    /// When the token expires, in seconds since the Unix epoch.
    pub exp: u64,
    /// What the caller may do, e.g. `["admin"]`.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Claims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Checks bearer tokens against the configured secret, issuer and audience.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(config: &conf::Auth) -> anyhow::Result<Arc<Verifier>> {
        anyhow::ensure!(
            config.secret.len() >= MIN_SECRET_BYTES,
            "`auth.secret` is {} bytes; use at least {MIN_SECRET_BYTES} random ones",
            config.secret.len()
        );
        let mut validation = Validation::new(Algorithm::HS256);
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        if let Some(audience) = &config.audience {
            validation.set_audience(&[audience]);
        }
        Ok(Arc::new(Verifier {
            key: DecodingKey::from_secret(config.secret.as_bytes()),
            validation,
        }))
    }

    /// The claims of an `authorization` header's bearer token, or the typed `401` saying what is
    /// wrong with it.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Claims, Error> {
        let unauthenticated = |message: &str| Error::new(401, "UNAUTHENTICATED", message);
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("a bearer token is required"))?;
        match jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(err) => Err(match err.kind() {
                ErrorKind::ExpiredSignature => unauthenticated("the token has expired"),
                _ => unauthenticated("the token is not valid"),
            }),
        }
    }
}

/// HTTP middleware for the contracts' routes.
pub async fn http(
    State(verifier): State<Arc<Verifier>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match verifier.verify(header) {
        Ok(claims) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

/// A gRPC interceptor for the contracts' services: `UNAUTHENTICATED` without a valid token, or
/// every call let through when auth is off (no `verifier`).
pub fn grpc(
    verifier: Option<Arc<Verifier>>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |mut request| {
        let Some(verifier) = &verifier else {
            return Ok(request);
        };
        let header = request
            .metadata()
            .get(AUTHORIZATION.as_str())
            .and_then(|value| value.to_str().ok());
        let claims = verifier.verify(header)?;
        request.extensions_mut().insert(claims);
        Ok(request)
    }
}
