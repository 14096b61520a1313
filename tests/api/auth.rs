//! The guard: which tokens open the gateway, and how every other one is refused.

use crate::helpers::*;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::json;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A token with an arbitrary header and claims and a garbage signature.
fn handmade(header: serde_json::Value, claims: serde_json::Value) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(b"not-a-signature")
    )
}

#[actix_web::test]
async fn valid_tokens_of_every_hmac_size_reach_upstream_as_their_tenant() {
    let app = TestApp::spawn().await;
    for (alg, tenant) in [
        (Algorithm::HS256, "t256"),
        (Algorithm::HS384, "t384"),
        (Algorithm::HS512, "t512"),
    ] {
        let token = sign(alg, SECRET, json!({"tenant_id": tenant}));
        let reply = app
            .get("/prometheus/api/v1/query?query=up", Some(&token))
            .await;
        assert_eq!(reply.status, 200, "{alg:?}: {}", reply.text());
        assert_eq!(
            app.query_frontend.last().header("x-scope-orgid").as_deref(),
            Some(tenant)
        );
    }
}

#[actix_web::test]
async fn a_token_minted_for_the_original_gateway_works() {
    let app = TestApp::spawn().await;
    // The original's example payload: HS512, no exp, aud and an integer version.
    let token = sign(
        Algorithm::HS512,
        SECRET,
        json!({"tenant_id": "development", "version": 1, "aud": "rewe"}),
    );
    let reply = app.push(&token, b"\x00snappy").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        app.distributor.last().header("x-scope-orgid").as_deref(),
        Some("development")
    );
}

/// Sends `authorization` (or none) and expects 401 with `reason_fragment` in the body.
async fn refused(app: &TestApp, authorization: Option<&str>, reason_fragment: &str) -> Reply {
    let mut request = app.client.get(app.url("/prometheus/api/v1/query?query=up"));
    if let Some(value) = authorization {
        request = request.insert_header(("authorization", value));
    }
    let reply = Reply::from(request.send().await).await;
    assert_eq!(reply.status, 401, "{authorization:?} → {}", reply.text());
    assert!(
        reply.text().contains(reason_fragment),
        "{authorization:?}: body {:?} should mention {reason_fragment:?}",
        reply.text()
    );
    assert!(
        reply.text().ends_with('\n') && reply.text().lines().count() == 1,
        "one line"
    );
    reply
}

#[actix_web::test]
async fn a_missing_token_gets_a_challenge_without_error_attribute() {
    let app = TestApp::spawn().await;
    let reply = refused(&app, None, "no bearer token").await;
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    assert_eq!(app.upstream_request_count(), 0);
}

#[actix_web::test]
async fn every_bad_token_is_refused_with_its_reason() {
    let app = TestApp::spawn().await;
    let other_secret = "another-secret-that-is-long-enough-too!";
    let cases: Vec<(String, &str)> = vec![
        ("Basic dXNlcjpwYXNz".into(), "not 'Bearer <JWT>'"),
        ("Bearer not-a-jwt".into(), "not a JWT header"),
        ("Bearer a.b.c".into(), "not a JWT header"),
        (
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, other_secret, json!({"tenant_id": "a"}))
            ),
            "signature does not match",
        ),
        (
            format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    SECRET,
                    json!({"tenant_id": "a", "exp": now() - 3600})
                )
            ),
            "expired",
        ),
        (
            format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    SECRET,
                    json!({"tenant_id": "a", "nbf": now() + 3600})
                )
            ),
            "not valid yet",
        ),
        (
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET, json!({"tenant_id": "a|b"}))
            ),
            "tenant_id is invalid",
        ),
        (
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET, json!({"tenant_id": ".."}))
            ),
            "tenant_id is invalid",
        ),
        (
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET, json!({"tenant_id": ""}))
            ),
            "tenant_id is invalid",
        ),
        (
            format!(
                "Bearer {}",
                sign(Algorithm::HS256, SECRET, json!({"tenant": "a"}))
            ),
            "missing field `tenant_id`",
        ),
        (
            format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    SECRET,
                    json!({"tenant_id": "a", "version": "1"})
                )
            ),
            "claims are invalid",
        ),
        (
            format!(
                "Bearer {}",
                handmade(
                    json!({"alg": "none", "typ": "JWT"}),
                    json!({"tenant_id": "a"})
                )
            ),
            "not a JWT header",
        ),
        (
            format!(
                "Bearer {}",
                handmade(
                    json!({"alg": "RS256", "typ": "JWT"}),
                    json!({"tenant_id": "a"})
                )
            ),
            "RS256",
        ),
        (
            format!(
                "Bearer {}",
                handmade(
                    json!({"alg": "ES256", "typ": "JWT"}),
                    json!({"tenant_id": "a"})
                )
            ),
            "ES256",
        ),
    ];
    for (authorization, reason) in &cases {
        let reply = refused(&app, Some(authorization), reason).await;
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    assert_eq!(
        app.upstream_request_count(),
        0,
        "no refused request may reach an upstream"
    );
    let metrics = app.metrics().await;
    for line in [
        r#"cortex_gateway_failed_authentications_total{reason="invalid_signature"} 1"#,
        r#"cortex_gateway_failed_authentications_total{reason="expired"} 1"#,
        r#"cortex_gateway_failed_authentications_total{reason="invalid_tenant"} 3"#,
        r#"cortex_gateway_failed_authentications_total{reason="algorithm_not_allowed"} 2"#,
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}

#[actix_web::test]
async fn a_signature_made_with_a_key_id_that_is_not_configured_is_refused() {
    let app = TestApp::spawn().await;
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some("nobody".into());
    let token = jsonwebtoken::encode(
        &header,
        &json!({"tenant_id": "a"}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    refused(&app, Some(&format!("Bearer {token}")), "key id").await;
}

#[actix_web::test]
async fn require_exp_refuses_tokens_that_never_expire() {
    let app = TestApp::spawn_with(|s| s.auth.require_exp = true).await;
    let forever = sign(Algorithm::HS256, SECRET, json!({"tenant_id": "a"}));
    refused(&app, Some(&format!("Bearer {forever}")), "no 'exp' claim").await;
    let reply = app.get("/prometheus/api/v1/query", Some(&token("a"))).await;
    assert_eq!(reply.status, 200);
}

#[actix_web::test]
async fn configured_audiences_are_enforced() {
    let app = TestApp::spawn_with(|s| s.auth.audiences = vec!["cortex".into()]).await;
    let wrong = sign(
        Algorithm::HS256,
        SECRET,
        json!({"tenant_id": "a", "aud": "rewe"}),
    );
    refused(&app, Some(&format!("Bearer {wrong}")), "audience").await;
    let right = sign(
        Algorithm::HS256,
        SECRET,
        json!({"tenant_id": "a", "aud": "cortex"}),
    );
    assert_eq!(
        app.get("/prometheus/api/v1/query", Some(&right))
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn health_and_metrics_are_open_and_everything_else_is_not() {
    let app = TestApp::spawn().await;
    let health = app.get("/health", None).await;
    assert_eq!((health.status, health.text().as_str()), (200, "Ok"));
    assert_eq!(app.get("/metrics", None).await.status, 200);
    for path in [
        "/",
        "/api/v1/push",
        "/all_user_stats",
        "/nonexistent",
        "/alertmanager/api/v2/status",
    ] {
        assert_eq!(
            app.get(path, None).await.status,
            401,
            "{path} must need a token"
        );
    }
    assert_eq!(app.upstream_request_count(), 0);
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn public_key(
    kid: &str,
    family: cortex_gateway::config::KeyFamily,
    file: &str,
) -> cortex_gateway::config::KeySettings {
    cortex_gateway::config::KeySettings {
        kid: Some(kid.into()),
        family,
        public_key_file: Some(format!("{FIXTURES}/{file}").into()),
        ..Default::default()
    }
}

fn signed(
    alg: Algorithm,
    key: jsonwebtoken::EncodingKey,
    kid: Option<&str>,
    tenant: &str,
) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        &json!({"tenant_id": tenant, "exp": now() + 600}),
        &key,
    )
    .unwrap()
}

#[actix_web::test]
async fn public_key_families_verify_tokens_an_issuer_signed() {
    use cortex_gateway::config::KeyFamily;
    use jsonwebtoken::EncodingKey;
    let app = TestApp::spawn_with(|s| {
        s.auth.keys = vec![
            public_key("rsa", KeyFamily::Rsa, "rsa-public.pem"),
            public_key("ec", KeyFamily::Ec, "ec-public.pem"),
            public_key("ed", KeyFamily::Eddsa, "ed-public.pem"),
        ];
    })
    .await;
    let rsa = || EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    let accepted = [
        (
            "rs256",
            signed(Algorithm::RS256, rsa(), Some("rsa"), "rs256"),
        ),
        ("ps256", signed(Algorithm::PS256, rsa(), None, "ps256")),
        (
            "es256",
            signed(
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&fixture("ec-private.pem")).unwrap(),
                Some("ec"),
                "es256",
            ),
        ),
        (
            "eddsa",
            signed(
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(&fixture("ed-private.pem")).unwrap(),
                None,
                "eddsa",
            ),
        ),
    ];
    for (tenant, token) in &accepted {
        let reply = app.get("/prometheus/api/v1/query", Some(token)).await;
        assert_eq!(reply.status, 200, "{tenant}: {}", reply.text());
        assert_eq!(
            app.query_frontend.last().header("x-scope-orgid").as_deref(),
            Some(*tenant)
        );
    }

    // Algorithm confusion: an HS256 token "signed" with the RSA public key as its secret. Only
    // HMAC keys are tried for HS256, and the public key is not one.
    let confused = signed(
        Algorithm::HS256,
        EncodingKey::from_secret(&fixture("rsa-public.pem")),
        Some("rsa"),
        "evil",
    );
    refused(&app, Some(&format!("Bearer {confused}")), "key id").await;
    let confused = signed(
        Algorithm::HS256,
        EncodingKey::from_secret(&fixture("rsa-public.pem")),
        None,
        "evil",
    );
    refused(
        &app,
        Some(&format!("Bearer {confused}")),
        "signature does not match",
    )
    .await;
    // A kid names one key: an RSA token presented as the EC key's is refused.
    let wrong_key = signed(Algorithm::RS256, rsa(), Some("ec"), "evil");
    refused(&app, Some(&format!("Bearer {wrong_key}")), "key id").await;
    assert!(app
        .query_frontend
        .requests()
        .iter()
        .all(|r| r.header("x-scope-orgid").as_deref() != Some("evil")));
}

#[test]
fn public_key_settings_are_checked_by_key_name() {
    use cortex_gateway::config::{Config, KeyFamily, KeySettings, Secret};
    let with = |key: KeySettings| {
        let mut settings = test_settings();
        settings.upstreams.distributor.address = "http://127.0.0.1:9009".into();
        settings.upstreams.query_frontend.address = "http://127.0.0.1:9009".into();
        settings.auth.keys = vec![key];
        Config::from_settings(settings)
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default()
    };
    let mut rsa_with_secret = public_key("a", KeyFamily::Rsa, "rsa-public.pem");
    rsa_with_secret.secret = Some(Secret::new("x".repeat(40)));
    assert!(with(rsa_with_secret).contains("auth.keys[0]: a public-key family"));
    let mut rsa_without_file = public_key("a", KeyFamily::Rsa, "rsa-public.pem");
    rsa_without_file.public_key_file = None;
    assert!(with(rsa_without_file).contains("auth.keys[0].public_key_file: required"));
    assert!(with(public_key("a", KeyFamily::Rsa, "missing.pem"))
        .contains("auth.keys[0].public_key_file: cannot read"));
    assert!(with(public_key("a", KeyFamily::Ec, "rsa-public.pem"))
        .contains("auth.keys[0].public_key_file:"));
    let hmac_with_pem = KeySettings {
        family: KeyFamily::Hmac,
        ..public_key("a", KeyFamily::Rsa, "rsa-public.pem")
    };
    assert!(with(hmac_with_pem).contains("auth.keys[0].public_key_file: an hmac key has a secret"));
    assert!(
        with(public_key("a", KeyFamily::Rsa, "rsa-public.pem")).is_empty(),
        "a valid RSA key"
    );

    // The gateway holds no private part, so it cannot mint with a public key.
    let mut settings = test_settings();
    settings.upstreams.distributor.address = "http://127.0.0.1:9009".into();
    settings.upstreams.query_frontend.address = "http://127.0.0.1:9009".into();
    settings.auth.jwt_secret = Secret::default();
    settings.auth.keys = vec![public_key("issuer", KeyFamily::Rsa, "rsa-public.pem")];
    let config = Config::from_settings(settings).unwrap();
    let err = config
        .keys
        .sign(None, Algorithm::RS256, &json!({"tenant_id": "a"}))
        .unwrap_err();
    assert!(err.contains("public key and cannot sign"), "{err}");
}
