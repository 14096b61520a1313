//! What operators see: metric names, labels and values after real traffic, bounded series,
//! the admin listener, readiness while draining.

use crate::helpers::*;
use std::time::Duration;

fn count(metrics: &str, prefix: &str) -> usize {
    metrics
        .lines()
        .filter(|line| line.starts_with(prefix))
        .count()
}

#[actix_web::test]
async fn a_push_and_a_refusal_show_up_under_their_route_and_reason() {
    let app = TestApp::spawn().await;
    let body = b"remote-write-bytes";
    assert_eq!(app.push(&token("team-a"), body).await.status, 200);
    let reply = app.push("not-a-token", body).await;
    assert_eq!(reply.status, 401);

    let metrics = app.metrics().await;
    for line in [
        r#"cortex_gateway_request_duration_seconds_count{method="POST",route="api_v1_push",status_code="200"} 1"#,
        r#"cortex_gateway_request_duration_seconds_count{method="POST",route="api_v1_push",status_code="401"} 1"#,
        r#"cortex_gateway_failed_authentications_total{reason="malformed_token"} 1"#,
        r#"cortex_gateway_failed_authentications_total{reason="expired"} 0"#,
        r#"cortex_gateway_succeeded_authentications_total{tenant="team-a"} 1"#,
        r#"cortex_gateway_proxy_requests_total{targetname="distributor"} 1"#,
        r#"cortex_gateway_proxy_requests_total{targetname="query-frontend"} 0"#,
        r#"cortex_gateway_upstream_request_duration_seconds_count{component="distributor",status_code="200"} 1"#,
        r#"cortex_gateway_upstream_sent_bytes_total{component="distributor"} 18"#,
        r#"cortex_gateway_upstream_received_bytes_total{component="distributor"} 16"#,
        r#"cortex_gateway_upstream_errors_total{component="distributor",kind="connect"} 0"#,
        r#"cortex_gateway_config_last_reload_successful 1"#,
        r#"cortex_gateway_config_reloads_total{result="failure"} 0"#,
        // The scrape itself is the one request in flight.
        r#"cortex_gateway_inflight_requests 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    assert!(metrics.contains(&format!(
        "cortex_gateway_build_info{{revision=\"unknown\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        !metrics.contains("cortex_gateway_actix_"),
        "actix-web-prom only exports"
    );
}

#[actix_web::test]
async fn a_flood_of_random_paths_does_not_grow_the_series() {
    let app = TestApp::spawn().await;
    let token = token("a");
    app.get("/nope", Some(&token)).await;
    app.get("/nope", None).await;
    let before = count(
        &app.metrics().await,
        "cortex_gateway_request_duration_seconds_count",
    );
    for i in 0..200 {
        assert_eq!(
            app.get(&format!("/random/{i}/{}", i * 7919), Some(&token))
                .await
                .status,
            404
        );
        assert_eq!(app.get(&format!("/scan/{i}.php"), None).await.status, 401);
    }
    let metrics = app.metrics().await;
    // Only the /metrics scrape itself may have added a series.
    assert!(
        count(&metrics, "cortex_gateway_request_duration_seconds_count") <= before + 1,
        "{metrics}"
    );
    assert!(metrics.contains(r#"cortex_gateway_request_duration_seconds_count{method="GET",route="other",status_code="404"} 201"#));
    assert!(metrics.contains(r#"cortex_gateway_request_duration_seconds_count{method="GET",route="other",status_code="401"} 201"#));
}

#[actix_web::test]
async fn the_tenant_label_can_be_turned_off() {
    let app = TestApp::spawn_with(|s| s.metrics.tenant_label = false).await;
    app.push(&token("team-a"), b"x").await;
    app.push(&token("team-b"), b"x").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"cortex_gateway_succeeded_authentications_total{tenant=""} 2"#),
        "{metrics}"
    );
    assert!(!metrics.contains("team-a"));
}

#[actix_web::test]
async fn upstream_failures_are_counted_by_kind() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(|s| {
        s.upstreams.distributor.address = refused;
        s.upstreams.query_frontend.timeout = Duration::from_millis(200);
    })
    .await;
    assert_eq!(app.push(&token("a"), b"x").await.status, 502);
    let slow = app
        .client
        .get(app.url("/prometheus/api/v1/query"))
        .insert_header(("authorization", format!("Bearer {}", token("a"))))
        .insert_header(("x-test-delay-ms", "2000"));
    assert_eq!(Reply::from(slow.send().await).await.status, 504);
    let metrics = app.metrics().await;
    for line in [
        r#"cortex_gateway_upstream_errors_total{component="distributor",kind="connect"} 1"#,
        r#"cortex_gateway_upstream_errors_total{component="query-frontend",kind="timeout"} 1"#,
        r#"cortex_gateway_request_duration_seconds_count{method="POST",route="api_v1_push",status_code="502"} 1"#,
        r#"cortex_gateway_request_duration_seconds_count{method="GET",route="prometheus_api_v1_query",status_code="504"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
}

#[actix_web::test]
async fn an_admin_listener_takes_metrics_and_config_off_the_tenant_port() {
    let app = TestApp::spawn_with(|s| s.server.admin_http_listen_port = Some(0)).await;
    let admin = app.admin_addr.expect("admin listener bound");
    assert_ne!(admin, app.addr);
    assert_eq!(
        app.get("/metrics", None).await.status,
        401,
        "tenants cannot scrape"
    );
    assert_eq!(app.get("/metrics", Some(&token("a"))).await.status, 404);
    assert_eq!(app.get("/config", Some(&token("a"))).await.status, 404);
    assert_eq!(
        app.get("/health", None).await.status,
        200,
        "load balancers still check"
    );
    assert_eq!(app.get("/ready", None).await.status, 200);
    app.push(&token("a"), b"x").await;
    for (path, fragment) in [
        (
            "/metrics",
            r#"cortex_gateway_proxy_requests_total{targetname="distributor"} 1"#,
        ),
        ("/config", "[upstreams.distributor]"),
        ("/health", "Ok"),
        ("/ready", "ready"),
    ] {
        let mut response = app
            .client
            .get(format!("http://{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        assert!(body.contains(fragment), "{path}: {body}");
    }
}

#[actix_web::test]
async fn ready_turns_503_once_draining_begins() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/ready", None).await.status, 200);
    app.readiness.start_draining();
    let reply = app.get("/ready", None).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (503, "shutting down\n")
    );
    assert_eq!(
        app.get("/health", None).await.status,
        200,
        "alive while draining"
    );
}

/// Regression: awc ends a response stream quietly when the upstream closes early, and the gateway
/// used to end its own response the same way, so a cut body looked complete.
#[actix_web::test]
async fn an_upstream_that_breaks_off_a_response_is_cut_for_the_client_and_counted() {
    let app = TestApp::spawn().await;
    // Raw bytes: awc, as a client, would hide the short body just as it does upstream.
    let mut connection = RawConnection::open(app.addr).await;
    let request = format!(
        "GET /prometheus/api/v1/query_range HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
         x-test-break: 1\r\n\r\n",
        token("a")
    );
    connection.send(request.as_bytes()).await;
    let response = connection.read_response(Duration::from_secs(10)).await;
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("content-length: 100"),
        "the upstream's length is relayed: {head}"
    );
    assert_eq!(
        body, "partial",
        "the connection closes after what the upstream sent"
    );
    let reset =
        r#"cortex_gateway_upstream_errors_total{component="query-frontend",kind="reset"} 1"#;
    assert!(
        eventually_async(Duration::from_secs(5), || async {
            app.metrics().await.contains(reset)
        })
        .await,
        "{}",
        app.metrics().await
    );
}
