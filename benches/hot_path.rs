//! The per-request work the gateway adds on top of moving bytes: verifying a bearer token,
//! matching the route table, rewriting the headers for upstream. Run with `cargo bench`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use cortex_gateway::auth::{authenticate, TenantId};
use cortex_gateway::config::{Config, Secret, Settings};
use cortex_gateway::proxy::headers::{upstream_request_headers, ClientConnection};
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::hint::black_box;

const SECRET: &str = "benchmark-secret-0123456789abcdef0123456789";

fn config(keys: usize) -> Config {
    let mut settings = Settings::default();
    settings.upstreams.distributor.address = "http://127.0.0.1:9009".into();
    settings.upstreams.query_frontend.address = "http://127.0.0.1:9009".into();
    settings.auth.keys = (0..keys)
        .map(|i| cortex_gateway::config::KeySettings {
            kid: Some(format!("k{i}")),
            secret: Some(Secret::new(format!("{SECRET}-{i}"))),
            ..Default::default()
        })
        .collect();
    Config::from_settings(settings).expect("valid benchmark config")
}

fn token(secret: &str, kid: Option<&str>, alg: Algorithm) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let claims = serde_json::json!({"tenant_id": "team-a", "version": 1, "exp": 4_102_444_800u64});
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The headers Prometheus sends with a remote-write request.
fn remote_write_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "cortex-gateway:8080"),
        ("user-agent", "Prometheus/2.42.0"),
        ("content-length", "10240"),
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
        ("x-scope-orgid", "spoofed"),
        ("authorization", &format!("Bearer {token}")),
        ("accept-encoding", "gzip"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn verify(c: &mut Criterion) {
    let one = config(1);
    let four = config(4);
    let mut group = c.benchmark_group("verify");
    for (name, config, token) in [
        (
            "hs256_one_key",
            &one,
            token(&format!("{SECRET}-0"), None, Algorithm::HS256),
        ),
        (
            "hs512_one_key",
            &one,
            token(&format!("{SECRET}-0"), None, Algorithm::HS512),
        ),
        (
            "hs256_kid_of_four",
            &four,
            token(&format!("{SECRET}-3"), Some("k3"), Algorithm::HS256),
        ),
        // Without a kid every key is tried: the worst case is the last one.
        (
            "hs256_no_kid_last_of_four",
            &four,
            token(&format!("{SECRET}-3"), None, Algorithm::HS256),
        ),
    ] {
        let headers = remote_write_headers(&token);
        group.bench_function(name, |b| {
            b.iter(|| authenticate(black_box(&headers), &config.keys).unwrap())
        });
    }
    let bad = remote_write_headers(&token(
        "another-secret-0123456789abcdef0123",
        None,
        Algorithm::HS256,
    ));
    group.bench_function("hs256_bad_signature", |b| {
        b.iter(|| authenticate(black_box(&bad), &one.keys).unwrap_err())
    });
    group.finish();
}

fn route(c: &mut Criterion) {
    let config = config(1);
    let mut group = c.benchmark_group("route");
    for path in [
        "/api/v1/push",
        "/prometheus/api/v1/query_range",
        "/alertmanager/api/v2/alerts/groups",
        "/nope",
    ] {
        group.bench_function(path, |b| {
            b.iter(|| config.routes.find(black_box(path)).is_some())
        });
    }
    group.finish();
}

fn headers(c: &mut Criterion) {
    let incoming = remote_write_headers("x.y.z");
    let tenant = TenantId::parse("team-a").unwrap();
    let client = ClientConnection {
        peer_ip: Some("10.1.2.3".into()),
        scheme: "http",
        host: incoming.get("host").cloned(),
    };
    c.bench_function("headers/remote_write", |b| {
        b.iter(|| upstream_request_headers(black_box(&incoming), &tenant, &client))
    });
}

criterion_group!(benches, verify, route, headers);
criterion_main!(benches);
