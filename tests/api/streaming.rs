//! Bodies stream both ways without being collected; limits and upstream failures answer with a
//! status and a one-line reason.

use crate::helpers::*;
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;

fn bearer(tenant: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {}", token(tenant)))
}

#[actix_web::test]
async fn a_response_chunk_reaches_the_client_before_the_upstream_finishes() {
    let app = TestApp::spawn().await;
    let mut response = app
        .client
        .get(app.url("/prometheus/api/v1/query_range"))
        .insert_header(bearer("a"))
        .insert_header(("x-test-gate", "1"))
        .send()
        .await
        .expect("response head arrives while the upstream is still writing");
    assert_eq!(response.status(), 200);
    // The upstream holds its second chunk until the gate opens; the first must arrive anyway.
    let first = actix_web::rt::time::timeout(Duration::from_secs(10), response.next())
        .await
        .expect("first chunk arrived while the upstream was still streaming")
        .unwrap()
        .unwrap();
    assert_eq!(first, Bytes::from_static(b"first\n"));
    app.query_frontend.release_gate();
    let rest = response.body().await.unwrap();
    assert_eq!(rest, Bytes::from_static(b"second\n"));
}

#[actix_web::test]
async fn a_request_chunk_reaches_the_upstream_before_the_client_finishes() {
    // Raw chunked encoding, so only the gateway decides when bytes move. Chunks are larger than
    // awc's 8 KiB write buffer, which coalesces smaller pieces before flushing.
    let app = TestApp::spawn().await;
    let mut connection = RawConnection::open(app.addr).await;
    let head = format!(
        "POST /api/v1/push HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        token("a")
    );
    connection.send(head.as_bytes()).await;
    let piece = vec![b'a'; 64 * 1024];
    connection
        .send(format!("{:x}\r\n", piece.len()).as_bytes())
        .await;
    connection.send(&piece).await;
    connection.send(b"\r\n").await;
    actix_web::rt::time::timeout(
        Duration::from_secs(10),
        app.distributor.state.first_chunk.notified(),
    )
    .await
    .expect("the first chunk reached the upstream while the client was still sending");
    connection.send(b"5\r\nlast!\r\n0\r\n\r\n").await;
    let response = connection.read_response(Duration::from_secs(10)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = app.distributor.last();
    assert_eq!(seen.body.len(), piece.len() + 5);
    assert!(seen.body.ends_with(b"last!"));
    assert!(
        seen.header("content-length").is_none(),
        "a chunked body stays chunked"
    );
}

const LARGE: usize = 24 << 20;

#[actix_web::test]
async fn large_bodies_pass_intact_both_ways() {
    let app = TestApp::spawn().await;
    let body = pattern(LARGE);

    // Sized request body.
    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .send_body(body.clone())
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        app.distributor.last().body == body,
        "sized body arrived intact"
    );

    // Chunked request body, in odd-sized pieces.
    let pieces: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(100_003)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .send_stream(futures_util::stream::iter(pieces))
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        app.distributor.last().body == body,
        "chunked body arrived intact"
    );

    // Response body.
    let reply = Reply::from(
        app.client
            .get(app.url("/prometheus/api/v1/query"))
            .insert_header(bearer("a"))
            .insert_header(("x-test-response-bytes", LARGE.to_string()))
            .send()
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-length"),
        Some(LARGE.to_string()),
        "length is relayed"
    );
    assert!(reply.body == body, "response body arrived intact");
}

#[actix_web::test]
async fn bodies_over_the_limit_get_413_and_never_reach_upstream_whole() {
    let app = TestApp::spawn_with(|s| s.server.max_request_body = bytesize::ByteSize::kib(1)).await;
    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .send_body(vec![7u8; 2048])
            .await,
    )
    .await;
    assert_eq!(reply.status, 413);
    assert!(reply.text().contains("1024 bytes"), "{}", reply.text());

    let chunks =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 2048]))]);
    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .send_stream(chunks)
            .await,
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(app.distributor.requests().len(), 0);

    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .send_body(vec![7u8; 1024])
            .await,
    )
    .await;
    assert_eq!(reply.status, 200, "a body at the limit passes");
}

#[actix_web::test]
async fn a_refused_upstream_connection_is_502_at_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(|s| s.upstreams.distributor.address = address).await;
    let started = std::time::Instant::now();
    let reply = app.push(&token("a"), b"x").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.text().starts_with("distributor upstream unreachable"),
        "{}",
        reply.text()
    );
    assert_eq!(reply.text().lines().count(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusal is reported at once"
    );
}

#[actix_web::test]
async fn a_slow_upstream_is_504_after_its_timeout() {
    let app =
        TestApp::spawn_with(|s| s.upstreams.query_frontend.timeout = Duration::from_millis(300))
            .await;
    let reply = Reply::from(
        app.client
            .get(app.url("/prometheus/api/v1/query"))
            .insert_header(bearer("a"))
            .insert_header(("x-test-delay-ms", "5000"))
            .send()
            .await,
    )
    .await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "query-frontend upstream did not answer within 300ms\n"
    );
    // Other components keep their own timeout.
    let reply = Reply::from(
        app.client
            .post(app.url("/api/v1/push"))
            .insert_header(bearer("a"))
            .insert_header(("x-test-delay-ms", "500"))
            .send_body("x")
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
}

#[actix_web::test]
async fn bodiless_statuses_are_relayed_without_a_body_and_keep_the_connection() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        let reply = Reply::from(
            app.client
                .post(app.url("/api/v1/push"))
                .insert_header(bearer("a"))
                .insert_header(("x-test-status", "204"))
                .send_body("x")
                .await,
        )
        .await;
        assert_eq!(reply.status, 204);
        assert!(reply.body.is_empty());
    }
    for status in [400u16, 429, 500, 503] {
        let reply = Reply::from(
            app.client
                .post(app.url("/api/v1/push"))
                .insert_header(bearer("a"))
                .insert_header(("x-test-status", status.to_string()))
                .send_body("x")
                .await,
        )
        .await;
        assert_eq!(reply.status, status, "upstream status is relayed as is");
    }
}

/// curl and Go clients send `Expect: 100-continue` before large bodies and wait to be told to go on.
#[actix_web::test]
async fn a_client_expecting_100_continue_is_told_to_continue_and_its_body_arrives() {
    let app = TestApp::spawn().await;
    let mut connection = RawConnection::open(app.addr).await;
    let head = format!(
        "POST /api/v1/push HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        token("a")
    );
    connection.send(head.as_bytes()).await;
    let mut interim = [0u8; 25];
    let read = actix_web::rt::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        connection.stream().read(&mut interim).await.unwrap()
    })
    .await
    .expect("an interim answer before the body is sent");
    assert!(String::from_utf8_lossy(&interim[..read]).starts_with("HTTP/1.1 100 Continue"));
    connection.send(b"hello").await;
    let response = connection.read_response(Duration::from_secs(10)).await;
    assert!(response.contains("HTTP/1.1 200"), "{response}");
    assert_eq!(app.distributor.last().body.as_ref(), b"hello");
}
