//! Authentication, the same on every transport: a bearer JWT (HS256 from a shared secret, RS256
//! or ES256 from a PEM public key or an identity provider's JWKS) or an API key proves an
//! [`Identity`], which travels in the request's extensions to the contract's access rules
//! ([`crate::access`]) and to the service. A request without a credential goes on anonymous, for
//! the rules to refuse or not; a credential that does not hold is refused at once with a typed
//! `401 UNAUTHENTICATED` saying what is wrong with it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use axum::extract::{Request, State};
use axum::http::{self, HeaderMap, header::AUTHORIZATION};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::access::{Authenticated, Credential, Identity};
use crate::conf;
use crate::errors::Error;
use crate::gateway::Contracts;

/// Secrets and API key names that start with this are development credentials: the scaffold
/// writes them into `configs/config.yaml`, so anyone with the code can use them.
pub const DEVELOPMENT_PREFIX: &str = "dev-only-";

/// The environment variable that says the service runs on a developer's machine, where the
/// development credentials are accepted: `MICRO_ENV=development` (`micro run` sets it).
pub const ENVIRONMENT_VARIABLE: &str = "MICRO_ENV";

/// HS256 keys shorter than the hash (32 bytes) weaken it; such a secret is refused at start-up.
const MIN_SECRET_BYTES: usize = 32;

/// A longer credential is refused unread (a JWT of a few kilobytes is already unusual).
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// Whether the service runs in development (`MICRO_ENV=development`).
pub fn development() -> bool {
    std::env::var(ENVIRONMENT_VARIABLE).is_ok_and(|value| value == "development")
}

/// Checks the credentials of requests against the configured token keys and API keys.
pub struct Authenticator {
    tokens: Option<Tokens>,
    api_keys: Vec<conf::ApiKey>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.is_some())
            .field("api_keys", &self.api_keys.len())
            .finish()
    }
}

impl Authenticator {
    /// An authenticator for `config`, with its key set fetched when it names a JWKS URL.
    /// Development credentials are refused unless `development` (see [`development`]).
    pub async fn new(config: &conf::Auth, development: bool) -> anyhow::Result<Arc<Self>> {
        let tokens = match &config.jwt {
            Some(jwt) => Some(Tokens::new(jwt, development).await?),
            None => None,
        };
        for key in &config.api_keys {
            ensure!(
                key.sha256.len() == 64 && key.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                "`auth.api_keys` entry `{}`: `sha256` must be the 64 hex digits of the key's \
                 SHA-256 (`printf %s \"$KEY\" | sha256sum`)",
                key.name
            );
            ensure!(
                development || !key.name.starts_with(DEVELOPMENT_PREFIX),
                "`auth.api_keys` entry `{}` is a development key, published with the code; \
                 outside development ({ENVIRONMENT_VARIABLE}=development, which `micro run` sets) \
                 remove it and issue your own keys",
                key.name
            );
        }
        let api_keys = config
            .api_keys
            .iter()
            .map(|key| conf::ApiKey {
                sha256: key.sha256.to_ascii_lowercase(),
                ..key.clone()
            })
            .collect();
        Ok(Arc::new(Authenticator { tokens, api_keys }))
    }

    /// The identity the credentials in `headers` prove: none without a credential, the typed
    /// `401` saying what is wrong with one that does not hold. A bearer token and an API key
    /// together are a service calling for a user: the token's subject, [`Identity::via`] the
    /// key's name; both must hold.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Identity>, Error> {
        let key = headers.get("x-api-key").or_else(|| headers.get("apikey"));
        let key = match key {
            Some(key) => Some(self.api_key(key.as_bytes())?),
            None => None,
        };
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(key);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("`authorization` must be `Bearer TOKEN`"))?;
        let tokens = self
            .tokens
            .as_ref()
            .ok_or_else(|| unauthenticated("this service accepts no bearer tokens"))?;
        let mut identity = tokens.verify(token).await?;
        identity.via = key.map(|service| service.subject);
        Ok(Some(identity))
    }

    fn api_key(&self, key: &[u8]) -> Result<Identity, Error> {
        if self.api_keys.is_empty() {
            return Err(unauthenticated("this service accepts no API keys"));
        }
        if key.len() > MAX_CREDENTIAL_BYTES {
            return Err(unauthenticated("the API key is not valid"));
        }
        let presented = hex(&Sha256::digest(key));
        // Every entry is compared, each in constant time, so the time taken says nothing about
        // which key came close.
        let mut found = None;
        for entry in &self.api_keys {
            if bool::from(entry.sha256.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or_else(|| unauthenticated("the API key is not valid"))?;
        Ok(Identity {
            subject: entry.name.clone(),
            roles: entry.roles.clone(),
            credential: Credential::ApiKey {
                name: entry.name.clone(),
            },
            via: None,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(401, "UNAUTHENTICATED", message)
}

/// Bearer token verification: the keys, and what a token must say besides its signature.
struct Tokens {
    keys: Keys,
    validation: Validation,
    roles_claim: Vec<String>,
}

enum Keys {
    /// One key, from the configuration, with the algorithms it signs with.
    Fixed(DecodingKey, Vec<Algorithm>),
    Jwks(Box<Jwks>),
}

impl Tokens {
    async fn new(config: &conf::Jwt, development: bool) -> anyhow::Result<Tokens> {
        let keys = match (&config.secret, &config.public_key, &config.jwks_url) {
            (Some(secret), None, None) => {
                ensure!(
                    secret.len() >= MIN_SECRET_BYTES,
                    "`auth.jwt.secret` is {} bytes; use at least {MIN_SECRET_BYTES} random ones",
                    secret.len()
                );
                ensure!(
                    development || !secret.starts_with(DEVELOPMENT_PREFIX),
                    "`auth.jwt.secret` is the development secret in `configs/config.yaml`, which \
                     anyone with the code can sign tokens with. Outside development \
                     ({ENVIRONMENT_VARIABLE}=development, which `micro run` sets) give the service \
                     its own: APP_AUTH__JWT__SECRET=<at least {MIN_SECRET_BYTES} random bytes>, or \
                     an identity provider's key (`auth.jwt.public_key` or `auth.jwt.jwks_url`)"
                );
                Keys::Fixed(
                    DecodingKey::from_secret(secret.as_bytes()),
                    vec![Algorithm::HS256],
                )
            }
            (None, Some(pem), None) => {
                let pem = pem.as_bytes();
                if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                    Keys::Fixed(key, vec![Algorithm::RS256])
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                    Keys::Fixed(key, vec![Algorithm::ES256])
                } else {
                    bail!(
                        "`auth.jwt.public_key` is neither an RSA nor a P-256 public key in PEM \
                         (`-----BEGIN PUBLIC KEY-----`)"
                    )
                }
            }
            (None, None, Some(url)) => Keys::Jwks(Box::new(Jwks::new(url, config).await?)),
            _ => bail!(
                "`auth.jwt` needs exactly one of `secret` (HS256), `public_key` (PEM, for RS256 \
                 or ES256) and `jwks_url`"
            ),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Tokens {
            keys,
            validation,
            roles_claim: config.roles_claim.split('.').map(str::to_owned).collect(),
        })
    }

    async fn verify(&self, token: &str) -> Result<Identity, Error> {
        if token.len() > MAX_CREDENTIAL_BYTES {
            return Err(unauthenticated("the token is not valid"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("the token is not a JWT"))?;
        let (key, algorithms) = match &self.keys {
            Keys::Fixed(key, algorithms) => (key.clone(), algorithms.clone()),
            Keys::Jwks(jwks) => {
                let (key, algorithm) = jwks.key(header.kid.as_deref()).await?;
                (key, vec![algorithm])
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = algorithms;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|err| unauthenticated(rejection(err.kind())))?
            .claims;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(unauthenticated("the token has no subject (`sub`)")),
        };
        let roles = roles(&claims, &self.roles_claim).ok_or_else(|| {
            unauthenticated(format!(
                "the token's `{}` claim is neither a string nor a list of strings",
                self.roles_claim.join(".")
            ))
        })?;
        Ok(Identity {
            subject,
            roles,
            credential: Credential::Token { claims },
            via: None,
        })
    }
}

/// Why a token was refused, in words a caller can act on.
fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)",
        ErrorKind::InvalidIssuer => "the token was issued by another issuer",
        ErrorKind::InvalidAudience => "the token is meant for another audience",
        ErrorKind::InvalidSignature => "the token's signature does not match",
        ErrorKind::InvalidAlgorithm => "the token is signed with an algorithm this service refuses",
        ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => "the token has no expiry",
        ErrorKind::MissingRequiredClaim(_) => "the token has no subject (`sub`)",
        _ => "the token is not valid",
    }
}

/// The roles a token's claim at `path` names: none when absent, `None` when not strings.
fn roles(claims: &Map<String, Value>, path: &[String]) -> Option<Vec<String>> {
    let mut value = None;
    let mut level = claims;
    for (i, key) in path.iter().enumerate() {
        match level.get(key) {
            None => return Some(Vec::new()),
            Some(found) if i + 1 == path.len() => value = Some(found),
            Some(Value::Object(inner)) => level = inner,
            Some(_) => return None,
        }
    }
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(role)) => Some(vec![role.clone()]),
        Some(Value::Array(roles)) => roles
            .iter()
            .map(|role| role.as_str().map(str::to_owned))
            .collect(),
        Some(_) => None,
    }
}

/// An identity provider's key set, by key id, fetched again when a token names a key it does not
/// hold (a rotation) — at most once per `min_refresh`, so that forged key ids cannot make the
/// service hammer its provider — and whenever it is older than `max_age`.
struct Jwks {
    url: http::Uri,
    http: JwksClient,
    min_refresh: Duration,
    max_age: Duration,
    state: tokio::sync::RwLock<JwksState>,
    /// One fetch at a time; callers that waited for it read what it brought.
    fetching: tokio::sync::Mutex<()>,
}

struct JwksState {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// The one key of a set with a single key, for tokens without a `kid`.
    only: Option<(DecodingKey, Algorithm)>,
    fetched: Instant,
}

impl Jwks {
    async fn new(url: &str, config: &conf::Jwt) -> anyhow::Result<Jwks> {
        let url: http::Uri = url
            .parse()
            .with_context(|| format!("`auth.jwt.jwks_url` ({url}) is not a URL"))?;
        let http = jwks_client()?;
        let state = fetch(&http, &url)
            .await
            .with_context(|| format!("fetching the key set at `auth.jwt.jwks_url` ({url})"))?;
        Ok(Jwks {
            url,
            http,
            min_refresh: config.jwks_min_refresh,
            max_age: config.jwks_max_age,
            state: tokio::sync::RwLock::new(state),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    async fn key(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), Error> {
        let fetched = {
            let state = self.state.read().await;
            if let Some(key) = state.find(kid)
                && state.fetched.elapsed() < self.max_age
            {
                return Ok(key);
            }
            state.fetched
        };
        {
            let _one_fetch = self.fetching.lock().await;
            let state = self.state.read().await;
            // Another caller may have fetched while this one waited.
            let fresh = state.fetched != fetched;
            if !fresh && state.fetched.elapsed() >= self.min_refresh {
                drop(state);
                match fetch(&self.http, &self.url).await {
                    Ok(new) => *self.state.write().await = new,
                    Err(err) => {
                        tracing::warn!(url = %self.url, error = %format!("{err:#}"), "JWKS refresh failed")
                    }
                }
            }
        }
        let state = self.state.read().await;
        state.find(kid).ok_or_else(|| {
            unauthenticated(match kid {
                Some(kid) => format!(
                    "the token is signed with a key (`kid` {kid}) this service does not know"
                ),
                None => "the token names no key (`kid`) and the key set holds several".to_owned(),
            })
        })
    }
}

impl JwksState {
    fn find(&self, kid: Option<&str>) -> Option<(DecodingKey, Algorithm)> {
        match kid {
            Some(kid) => self.keys.get(kid).cloned(),
            None => self.only.clone(),
        }
    }
}

/// An HTTP(S) client of its own for the key set, with ring's TLS and Mozilla's roots built in: a
/// container image needs no CA bundle, and the process' other clients keep their own TLS set-up.
type JwksClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<axum::body::Bytes>,
>;

fn jwks_client() -> anyhow::Result<JwksClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .context("setting up TLS for the key set")?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

/// The largest key set read; providers publish a few kilobytes.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

async fn fetch(http: &JwksClient, url: &http::Uri) -> anyhow::Result<JwksState> {
    use http_body_util::BodyExt as _;
    let response = tokio::time::timeout(Duration::from_secs(10), http.get(url.clone()))
        .await
        .context("no answer within 10 s")??;
    ensure!(
        response.status().is_success(),
        "the provider answered {}",
        response.status()
    );
    let body = http_body_util::Limited::new(response.into_body(), MAX_JWKS_BYTES)
        .collect()
        .await
        .map_err(|err| anyhow::anyhow!("reading the key set: {err}"))?
        .to_bytes();
    let set: JwkSet = serde_json::from_slice(&body).context("the key set is not a JWK set")?;
    let mut keys = HashMap::new();
    let mut usable = Vec::new();
    for jwk in &set.keys {
        // Keys for other uses (encryption) or of kinds this service does not verify are skipped.
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(_), None) => Algorithm::ES256,
            (_, Some(algorithm)) => match Algorithm::try_from(algorithm) {
                Ok(algorithm @ (Algorithm::RS256 | Algorithm::ES256)) => algorithm,
                _ => continue,
            },
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Some(kid) = &jwk.common.key_id {
            keys.insert(kid.clone(), (key.clone(), algorithm));
        }
        usable.push((key, algorithm));
    }
    ensure!(
        !usable.is_empty(),
        "the key set holds no RS256 or ES256 signing key"
    );
    let only = (usable.len() == 1).then(|| usable.remove(0));
    Ok(JwksState {
        keys,
        only,
        fetched: Instant::now(),
    })
}

/// HTTP middleware for the contracts' routes: attaches the caller's [`Identity`] (and the mark
/// that the service authenticates) for the routes' access rules, or answers the `401`.
pub async fn http(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticator.authenticate(request.headers()).await {
        Ok(identity) => {
            attach(request.extensions_mut(), identity);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

fn attach(extensions: &mut http::Extensions, identity: Option<Identity>) {
    extensions.insert(Authenticated);
    if let Some(identity) = identity {
        extensions.insert(identity);
    }
}

/// A layer for the gRPC server: calls to the contracts' RPCs are authenticated and checked
/// against their access rules before the service sees them; other services (health,
/// reflection) pass untouched.
#[derive(Clone)]
pub struct GrpcLayer {
    authenticator: Arc<Authenticator>,
    contracts: &'static Contracts,
}

impl GrpcLayer {
    pub fn new(authenticator: Arc<Authenticator>, contracts: &'static Contracts) -> Self {
        GrpcLayer {
            authenticator,
            contracts,
        }
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Grpc<S>;

    fn layer(&self, inner: S) -> Grpc<S> {
        Grpc {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Grpc<S> {
    inner: S,
    layer: GrpcLayer,
}

impl<S, B, R> tower::Service<http::Request<B>> for Grpc<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let layer = self.layer.clone();
        if !layer.contracts.governs(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The inner service was made ready for this call; a clone takes the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let checked = match layer.authenticator.authenticate(request.headers()).await {
                Ok(identity) => {
                    attach(request.extensions_mut(), identity);
                    layer
                        .contracts
                        .authorize(request.uri().path(), request.extensions())
                }
                Err(err) => Err(err),
            };
            match checked {
                Ok(()) => inner.call(request).await,
                Err(err) => Ok(tonic::Status::from(err).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: Value) -> Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn roles_come_from_a_string_a_list_or_a_nested_claim() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        let one = claims(serde_json::json!({"roles": "editor"}));
        assert_eq!(roles(&one, &path("roles")), Some(vec!["editor".into()]));
        let nested = claims(serde_json::json!({"realm_access": {"roles": ["a", "b"]}}));
        assert_eq!(
            roles(&nested, &path("realm_access.roles")),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(roles(&nested, &path("roles")), Some(vec![]));
        let wrong = claims(serde_json::json!({"roles": [1]}));
        assert_eq!(roles(&wrong, &path("roles")), None);
    }

    #[tokio::test]
    async fn api_keys_are_compared_by_hash_and_both_keys_of_a_rotation_hold() {
        let key = |name: &str, secret: &str| conf::ApiKey {
            name: name.into(),
            sha256: hex(&Sha256::digest(secret.as_bytes())).to_uppercase(),
            roles: vec!["EDITOR".into()],
        };
        let config = conf::Auth {
            jwt: None,
            api_keys: vec![key("reports", "old-key"), key("reports", "new-key")],
        };
        let auth = Authenticator::new(&config, false).await.unwrap();
        for secret in ["old-key", "new-key"] {
            let mut headers = HeaderMap::new();
            headers.insert("x-api-key", secret.parse().unwrap());
            let identity = auth.authenticate(&headers).await.unwrap().unwrap();
            assert_eq!(identity.subject, "reports");
            assert!(identity.has_role("editor"));
        }
        let mut headers = HeaderMap::new();
        headers.insert("apikey", "other-key".parse().unwrap());
        assert_eq!(auth.authenticate(&headers).await.unwrap_err().code, 401);
        assert_eq!(auth.authenticate(&HeaderMap::new()).await.unwrap(), None);
        // A bearer token where only keys are accepted is refused, not ignored.
        headers.insert(AUTHORIZATION, "Bearer x.y.z".parse().unwrap());
        assert_eq!(auth.authenticate(&headers).await.unwrap_err().code, 401);
    }

    #[tokio::test]
    async fn a_forwarded_token_next_to_a_services_key_is_the_user_via_the_service() {
        const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";
        let config = conf::Auth {
            jwt: Some(conf::Jwt {
                secret: Some(SECRET.into()),
                ..conf::Jwt::default()
            }),
            api_keys: vec![conf::ApiKey {
                name: "order-service".into(),
                sha256: hex(&Sha256::digest(b"order-service-key")),
                roles: vec![],
            }],
        };
        let auth = Authenticator::new(&config, false).await.unwrap();
        let claims = serde_json::json!({"sub": "user_123", "exp": u32::MAX});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers.insert("x-api-key", "order-service-key".parse().unwrap());
        let identity = auth.authenticate(&headers).await.unwrap().unwrap();
        assert_eq!(identity.subject, "user_123");
        assert_eq!(identity.via.as_deref(), Some("order-service"));
        // The service calling for itself.
        headers.remove(AUTHORIZATION);
        let identity = auth.authenticate(&headers).await.unwrap().unwrap();
        assert_eq!(
            (identity.subject.as_str(), identity.via),
            ("order-service", None)
        );
        // A wrong key next to a good token is refused, not ignored.
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers.insert("x-api-key", "stolen-token-wrong-key".parse().unwrap());
        assert_eq!(auth.authenticate(&headers).await.unwrap_err().code, 401);
    }

    #[tokio::test]
    async fn development_credentials_are_refused_outside_development() {
        let config = conf::Auth {
            jwt: Some(conf::Jwt {
                secret: Some(format!(
                    "{DEVELOPMENT_PREFIX}secret-0123456789abcdef0123456789"
                )),
                ..conf::Jwt::default()
            }),
            api_keys: vec![],
        };
        let refused = Authenticator::new(&config, false).await.unwrap_err();
        assert!(
            format!("{refused:#}").contains("APP_AUTH__JWT__SECRET"),
            "{refused:#}"
        );
        assert!(Authenticator::new(&config, true).await.is_ok());
    }
}
