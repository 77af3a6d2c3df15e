//! Bearer tokens as identity providers issue them: HS256, RS256 and ES256 from configured keys and
//! from a JWKS that rotates, and every way a token can be wrong. The keys under `tests/keys/` were
//! made for these tests only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use micro_runtime::auth::{Authenticator, Credential};
use micro_runtime::conf;
use serde_json::{Value, json};

const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";

fn key(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub": "user_1", "exp": now() + 600, "iss": "https://id.example.com",
           "aud": "orders", "roles": ["EDITOR"]})
}

fn sign(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

fn rsa(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(key(&format!("{name}.pem")).as_bytes()).unwrap()
}

fn ec(name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(key(&format!("{name}.pem")).as_bytes()).unwrap()
}

fn jwt_config() -> conf::Jwt {
    conf::Jwt {
        issuer: Some("https://id.example.com".into()),
        audience: Some("orders".into()),
        ..conf::Jwt::default()
    }
}

async fn authenticator(jwt: conf::Jwt) -> Arc<Authenticator> {
    let config = conf::Auth {
        jwt: Some(jwt),
        api_keys: vec![],
    };
    Authenticator::new(&config, false).await.unwrap()
}

/// What the authenticator makes of `token`: its subject and roles, or the `401`'s message.
async fn verify(auth: &Authenticator, token: &str) -> Result<(String, Vec<String>), String> {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    match auth.authenticate(&headers).await {
        Ok(Some(identity)) => {
            assert!(matches!(identity.credential, Credential::Token { .. }));
            Ok((identity.subject, identity.roles))
        }
        Ok(None) => panic!("a bearer token was taken for no credential"),
        Err(err) => {
            assert_eq!((err.code, err.reason.as_str()), (401, "UNAUTHENTICATED"));
            Err(err.message)
        }
    }
}

fn refused_because(result: Result<(String, Vec<String>), String>, why: &str) {
    match result {
        Err(message) => assert!(message.contains(why), "`{message}` does not say `{why}`"),
        Ok(identity) => panic!("accepted {identity:?}; expected a refusal: {why}"),
    }
}

#[tokio::test]
async fn hs256_tokens_hold_only_when_every_check_passes() {
    let auth = authenticator(conf::Jwt {
        secret: Some(SECRET.into()),
        ..jwt_config()
    })
    .await;
    assert_eq!(
        verify(&auth, &hs256(&claims())).await,
        Ok(("user_1".into(), vec!["EDITOR".into()]))
    );

    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    refused_because(verify(&auth, &hs256(&expired)).await, "expired");
    // Within the leeway (30 s by default), clocks may disagree.
    let mut just_expired = claims();
    just_expired["exp"] = json!(now() - 5);
    assert!(verify(&auth, &hs256(&just_expired)).await.is_ok());

    let mut issuer = claims();
    issuer["iss"] = json!("https://evil.example.com");
    refused_because(verify(&auth, &hs256(&issuer)).await, "another issuer");
    let mut audience = claims();
    audience["aud"] = json!("billing");
    refused_because(verify(&auth, &hs256(&audience)).await, "another audience");
    let mut no_subject = claims();
    no_subject.as_object_mut().unwrap().remove("sub");
    refused_because(verify(&auth, &hs256(&no_subject)).await, "no subject");

    let other_key = EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!");
    refused_because(
        verify(&auth, &sign(Algorithm::HS256, None, &other_key, &claims())).await,
        "signature does not match",
    );
    // A token whose claims were changed after signing: the role raised to ADMIN.
    let token = hs256(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut raised = claims();
    raised["roles"] = json!(["ADMIN"]);
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&raised).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    refused_because(verify(&auth, &tampered).await, "signature does not match");
    // An RS256 token for a service that holds an HS256 secret: another algorithm, refused.
    refused_because(
        verify(
            &auth,
            &sign(Algorithm::RS256, None, &rsa("rsa-1"), &claims()),
        )
        .await,
        "algorithm",
    );
    refused_because(verify(&auth, "not-a-token").await, "not a JWT");
}

#[tokio::test]
async fn rs256_and_es256_tokens_are_checked_with_the_configured_public_key() {
    let rsa_auth = authenticator(conf::Jwt {
        public_key: Some(key("rsa-1.pub.pem")),
        ..jwt_config()
    })
    .await;
    let token = sign(Algorithm::RS256, None, &rsa("rsa-1"), &claims());
    assert!(verify(&rsa_auth, &token).await.is_ok());
    let wrong_key = sign(Algorithm::RS256, None, &rsa("rsa-2"), &claims());
    refused_because(
        verify(&rsa_auth, &wrong_key).await,
        "signature does not match",
    );
    // The public key's bytes as an HS256 secret: the classic confusion, refused by algorithm.
    let confused = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(key("rsa-1.pub.pem").as_bytes()),
        &claims(),
    );
    refused_because(verify(&rsa_auth, &confused).await, "algorithm");

    let ec_auth = authenticator(conf::Jwt {
        public_key: Some(key("ec-1.pub.pem")),
        ..jwt_config()
    })
    .await;
    let token = sign(Algorithm::ES256, None, &ec("ec-1"), &claims());
    assert!(verify(&ec_auth, &token).await.is_ok());
    refused_because(
        verify(
            &ec_auth,
            &sign(Algorithm::RS256, None, &rsa("rsa-1"), &claims()),
        )
        .await,
        "algorithm",
    );
}

/// An identity provider's JWKS endpoint, whose keys the test replaces, counting its requests.
struct Provider {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

fn jwk(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, algorithm).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

async fn provider(keys: Vec<Jwk>) -> Provider {
    let keys = Arc::new(Mutex::new(JwkSet { keys }));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (keys.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::to_string(&*served.lock().unwrap()).unwrap();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Provider { url, keys, fetches }
}

#[tokio::test]
async fn a_jwks_is_fetched_again_when_a_token_names_a_new_key_and_no_more_often() {
    let provider = provider(vec![
        jwk(&rsa("rsa-1"), Algorithm::RS256, "rsa-1"),
        jwk(&ec("ec-1"), Algorithm::ES256, "ec-1"),
    ])
    .await;
    let auth = authenticator(conf::Jwt {
        jwks_url: Some(provider.url.clone()),
        jwks_min_refresh: Duration::ZERO,
        ..jwt_config()
    })
    .await;
    fn by(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> String {
        sign(algorithm, Some(kid), key, &claims())
    }
    assert!(
        verify(&auth, &by(&rsa("rsa-1"), Algorithm::RS256, "rsa-1"))
            .await
            .is_ok()
    );
    assert!(
        verify(&auth, &by(&ec("ec-1"), Algorithm::ES256, "ec-1"))
            .await
            .is_ok()
    );
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 1, "cached");
    // A token signed with one key but naming another is refused.
    refused_because(
        verify(&auth, &by(&rsa("rsa-2"), Algorithm::RS256, "rsa-1")).await,
        "signature does not match",
    );

    // The provider rotates: rsa-2 replaces rsa-1. The first token naming rsa-2 brings the new set.
    *provider.keys.lock().unwrap() = JwkSet {
        keys: vec![jwk(&rsa("rsa-2"), Algorithm::RS256, "rsa-2")],
    };
    assert!(
        verify(&auth, &by(&rsa("rsa-2"), Algorithm::RS256, "rsa-2"))
            .await
            .is_ok()
    );
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
    // Tokens of the retired key now fail.
    refused_because(
        verify(&auth, &by(&rsa("rsa-1"), Algorithm::RS256, "rsa-1")).await,
        "does not know",
    );

    // With the default minimum interval, a flood of made-up key ids costs the provider nothing.
    let guarded = authenticator(conf::Jwt {
        jwks_url: Some(provider.url.clone()),
        ..jwt_config()
    })
    .await;
    let before = provider.fetches.load(Ordering::SeqCst);
    for i in 0..50 {
        let kid = format!("forged-{i}");
        refused_because(
            verify(&guarded, &by(&rsa("rsa-2"), Algorithm::RS256, &kid)).await,
            "does not know",
        );
    }
    assert_eq!(provider.fetches.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn an_unreachable_or_empty_key_set_stops_the_service_at_start() {
    let config = |url: &str| conf::Auth {
        jwt: Some(conf::Jwt {
            jwks_url: Some(url.into()),
            ..jwt_config()
        }),
        api_keys: vec![],
    };
    let unreachable = Authenticator::new(&config("http://127.0.0.1:9/jwks.json"), false)
        .await
        .unwrap_err();
    assert!(
        format!("{unreachable:#}").contains("auth.jwt.jwks_url"),
        "{unreachable:#}"
    );
    let empty = provider(vec![]).await;
    let refused = Authenticator::new(&config(&empty.url), false)
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("no RS256 or ES256"),
        "{refused:#}"
    );
}
