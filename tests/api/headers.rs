//! What crosses the gateway: the tenant header is rewritten, credentials and hop-by-hop headers
//! stay behind, everything else and every body byte arrives untouched.

use crate::helpers::*;
use std::time::Duration;

#[actix_web::test]
async fn a_spoofed_scope_header_is_replaced_however_it_is_spelled() {
    let app = TestApp::spawn().await;
    let request = app
        .client
        .post(app.url("/api/v1/push"))
        .insert_header(("authorization", format!("Bearer {}", token("team-a"))))
        .append_header(("X-Scope-OrgID", "victim"))
        .append_header(("x-scope-orgid", "victim|team-a"))
        .append_header(("X-SCOPE-ORGID", "another"));
    let reply = Reply::from(request.send_body("x").await).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        app.distributor.last().header_values("x-scope-orgid"),
        ["team-a"]
    );
}

#[actix_web::test]
async fn remote_write_arrives_byte_for_byte_without_credentials_or_hop_headers() {
    let app = TestApp::spawn().await;
    let body = pattern(4096);
    let request = app
        .client
        .post(app.url("/api/v1/push"))
        .insert_header(("authorization", format!("Bearer {}", token("team-a"))))
        .insert_header(("content-encoding", "snappy"))
        .insert_header(("content-type", "application/x-protobuf"))
        .insert_header(("x-prometheus-remote-write-version", "0.1.0"))
        .insert_header(("user-agent", "Prometheus/2.42.0"))
        .insert_header((
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ))
        .insert_header(("proxy-authorization", "Basic c2VjcmV0"))
        .insert_header(("x-forwarded-for", "203.0.113.7"))
        .insert_header(("x-forwarded-proto", "spoofed"))
        .insert_header(("host", "gateway.example"));
    let reply = Reply::from(request.send_body(body.clone()).await).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let seen = app.distributor.last();
    assert_eq!(
        seen.body.as_ref(),
        body.as_slice(),
        "body must arrive unchanged"
    );
    assert_eq!(seen.header("content-length").as_deref(), Some("4096"));
    for (name, value) in [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
        ("user-agent", "Prometheus/2.42.0"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("x-forwarded-for", "203.0.113.7, 127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "gateway.example"),
        ("host", &app.distributor.addr.to_string()),
    ] {
        assert_eq!(seen.header_values(name), [value], "header {name}");
    }
    for gone in ["authorization", "proxy-authorization", "transfer-encoding"] {
        assert!(
            seen.header(gone).is_none(),
            "{gone} must not reach upstream"
        );
    }
}

#[actix_web::test]
async fn repeated_headers_keep_every_value() {
    let app = TestApp::spawn().await;
    let request = app
        .client
        .get(app.url("/prometheus/api/v1/labels"))
        .insert_header(("authorization", format!("Bearer {}", token("a"))))
        .append_header(("accept", "application/json"))
        .append_header(("accept", "text/plain"));
    assert_eq!(Reply::from(request.send().await).await.status, 200);
    assert_eq!(
        app.query_frontend.last().header_values("accept"),
        ["application/json", "text/plain"]
    );
}

#[actix_web::test]
async fn upstream_response_headers_come_back_without_hop_headers() {
    let app = TestApp::spawn().await;
    let reply = app.get("/prometheus/api/v1/query", Some(&token("a"))).await;
    assert_eq!(
        reply.header("x-upstream").as_deref(),
        Some("query-frontend")
    );
    assert_eq!(reply.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(reply.text(), "from query-frontend");
}

#[actix_web::test]
async fn headers_named_by_connection_end_at_the_gateway() {
    // awc writes its own Connection header, so this request goes out byte for byte.
    let app = TestApp::spawn().await;
    let mut connection = RawConnection::open(app.addr).await;
    let request = format!(
        "POST /api/v1/push HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         Connection: close, X-Hop-Secret\r\nX-Hop-Secret: must-not-leave\r\nKeep-Alive: timeout=5\r\n\
         TE: trailers\r\nProxy-Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        token("a")
    );
    connection.send(request.as_bytes()).await;
    let response = connection.read_response(Duration::from_secs(10)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = app.distributor.last();
    assert_eq!(seen.body.as_ref(), b"ok");
    for gone in [
        "x-hop-secret",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(
            seen.header(gone).is_none(),
            "{gone} must not reach upstream: {:?}",
            seen.headers
        );
    }
}

/// Regression: with `Upgrade` present actix reads the body until the connection closes, so such
/// a request used to hang until the client gave up.
#[actix_web::test]
async fn an_upgrade_request_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let mut connection = RawConnection::open(app.addr).await;
    let request = format!(
        "POST /api/v1/push HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         Upgrade: websocket\r\nContent-Length: 2\r\n\r\nok",
        token("a")
    );
    connection.send(request.as_bytes()).await;
    let response = connection.read_response(Duration::from_secs(10)).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("upgrades (WebSocket) are not supported"),
        "{response}"
    );
    assert_eq!(app.upstream_request_count(), 0);
}

/// Framing a front proxy and the gateway could read differently (request smuggling) is refused
/// before anything reaches an upstream.
#[actix_web::test]
async fn ambiguous_body_framing_is_refused() {
    let app = TestApp::spawn().await;
    for framing in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Transfer-Encoding: gzip, chunked\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: 5 5\r\n",
    ] {
        let mut connection = RawConnection::open(app.addr).await;
        let request = format!(
            "POST /api/v1/push HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n{framing}\r\n0\r\n\r\nGET /all_user_stats HTTP/1.1\r\nHost: gw\r\n\r\n",
            token("a")
        );
        connection.send(request.as_bytes()).await;
        let response = connection.read_response(Duration::from_secs(5)).await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{framing:?}: {response}"
        );
    }
    assert_eq!(app.upstream_request_count(), 0);
}
