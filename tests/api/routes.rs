//! The route table end to end: each default route reaches its component, internal paths never
//! do, and paths and queries arrive exactly.

use crate::helpers::*;
use cortex_gateway::config::RouteSettings;

fn upstream<'a>(app: &'a TestApp, component: &str) -> &'a TestUpstream {
    match component {
        "distributor" => &app.distributor,
        "query-frontend" => &app.query_frontend,
        "querier" => &app.querier,
        "ruler" => &app.ruler,
        "alertmanager" => &app.alertmanager,
        other => panic!("no upstream {other}"),
    }
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str) -> Reply {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let request = app
        .client
        .request(method, app.url(path))
        .insert_header(("authorization", format!("Bearer {token}")));
    Reply::from(request.send().await).await
}

#[actix_web::test]
async fn every_default_route_reaches_its_component() {
    let app = TestApp::spawn().await;
    let token = token("tenant-1");
    let mut cases = vec![
        ("POST", "/api/v1/push", "distributor"),
        ("POST", "/api/prom/push", "distributor"),
        ("POST", "/api/v1/otlp/v1/metrics", "distributor"),
        ("POST", "/otlp/v1/metrics", "distributor"),
        ("POST", "/api/v1/push/influx/write", "distributor"),
        ("GET", "/api/v1/user_stats", "querier"),
        ("GET", "/api/prom/user_stats", "querier"),
        ("GET", "/api/v1/rules", "ruler"),
        ("POST", "/api/v1/rules/my-namespace", "ruler"),
        ("DELETE", "/api/v1/rules/my-namespace/my-group", "ruler"),
        ("GET", "/prometheus/config/v1/rules", "ruler"),
        ("POST", "/prometheus/config/v1/rules/ns", "ruler"),
        ("GET", "/api/prom/rules/ns/group", "ruler"),
        ("GET", "/api/v1/alerts", "alertmanager"),
        ("POST", "/api/v1/alerts", "alertmanager"),
        ("DELETE", "/api/v1/alerts", "alertmanager"),
        ("GET", "/alertmanager", "alertmanager"),
        ("GET", "/alertmanager/api/v2/status", "alertmanager"),
        ("POST", "/alertmanager/api/v2/silences", "alertmanager"),
    ];
    for prefix in ["/prometheus", "/api/prom"] {
        for (method, path) in [
            ("GET", "/api/v1/query"),
            ("POST", "/api/v1/query"),
            ("GET", "/api/v1/query_range"),
            ("GET", "/api/v1/query_exemplars"),
            ("GET", "/api/v1/format_query"),
            ("GET", "/api/v1/parse_query"),
            ("GET", "/api/v1/series"),
            ("GET", "/api/v1/labels"),
            ("GET", "/api/v1/label/job/values"),
            ("GET", "/api/v1/metadata"),
            ("POST", "/api/v1/read"),
            ("GET", "/api/v1/status/buildinfo"),
            ("GET", "/api/v1/cardinality/label_names"),
            ("GET", "/api/v1/cardinality/label_values"),
        ] {
            cases.push((
                method,
                Box::leak(format!("{prefix}{path}").into_boxed_str()),
                "query-frontend",
            ));
        }
        cases.push((
            "GET",
            Box::leak(format!("{prefix}/api/v1/rules").into_boxed_str()),
            "ruler",
        ));
        cases.push((
            "GET",
            Box::leak(format!("{prefix}/api/v1/alerts").into_boxed_str()),
            "ruler",
        ));
    }
    for (method, path, component) in cases {
        let target = upstream(&app, component);
        let before = target.requests().len();
        let reply = send(&app, method, path, &token).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
        assert_eq!(
            reply.header("x-upstream").as_deref(),
            Some(component),
            "{method} {path}"
        );
        assert_eq!(target.requests().len(), before + 1, "{method} {path}");
        let seen = target.last();
        assert_eq!((seen.method.as_str(), seen.target.as_str()), (method, path));
        assert_eq!(seen.header("x-scope-orgid").as_deref(), Some("tenant-1"));
    }
}

#[actix_web::test]
async fn internal_and_unknown_paths_never_reach_an_upstream() {
    let app = TestApp::spawn().await;
    let token = token("tenant-1");
    for path in [
        "/all_user_stats",
        "/distributor/all_user_stats",
        "/distributor/ha_tracker",
        "/ha-tracker",
        "/ruler/ring",
        "/ruler/rule_groups",
        "/ruler/delete_tenant_config",
        "/multitenant_alertmanager/status",
        "/api/v1/user-overrides",
        "/purger/delete_tenant",
        "/compactor/ring",
        "/ingester/flush",
        "/store-gateway/ring",
        "/services",
        "/debug/pprof/heap",
        "/nonexistent",
        "/api/v1/push/",
    ] {
        for method in ["GET", "POST"] {
            let reply = send(&app, method, path, &token).await;
            assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text());
            assert!(
                reply.text().contains("no tenant route"),
                "{path}: {}",
                reply.text()
            );
        }
    }
    // /config is the gateway's own (redacted) settings page, never Cortex's.
    let own = send(&app, "GET", "/config", &token).await;
    assert!(
        own.text().contains("[upstreams.distributor]"),
        "{}",
        own.text()
    );
    assert_eq!(send(&app, "POST", "/config", &token).await.status, 405);
    assert_eq!(app.upstream_request_count(), 0);
}

#[actix_web::test]
async fn dot_segments_are_refused_before_routing() {
    let app = TestApp::spawn().await;
    let token = token("tenant-1");
    for path in [
        "/alertmanager/../distributor/all_user_stats",
        "/alertmanager/%2e%2e/distributor/all_user_stats",
        "/alertmanager/%2E%2E%2Fdistributor",
        "/alertmanager/./api/v2/status",
    ] {
        let reply = send(&app, "GET", path, &token).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    }
    assert_eq!(app.upstream_request_count(), 0);
}

#[actix_web::test]
async fn a_wrong_method_gets_405_with_allow() {
    let app = TestApp::spawn().await;
    let reply = send(&app, "GET", "/api/v1/push", &token("a")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow").as_deref(), Some("POST"));
    let reply = send(&app, "PUT", "/api/v1/rules/ns/group", &token("a")).await;
    assert_eq!(
        (reply.status, reply.header("allow").as_deref()),
        (405, Some("GET, DELETE"))
    );
    assert_eq!(app.upstream_request_count(), 0);
}

#[actix_web::test]
async fn path_encoding_and_query_arrive_exactly() {
    let app = TestApp::spawn().await;
    let token = token("a");
    for path in [
        "/prometheus/api/v1/query?query=sum%28rate%28up%7Bjob%3D%22a%2Fb%22%7D%5B5m%5D%29%29&time=1700000000.5",
        "/prometheus/api/v1/label/a%2Fb/values?match[]=up&match[]=%7B__name__%3D~%22.%2B%22%7D",
        "/api/v1/rules/name%20with%20space/group%2Fslash",
        "/prometheus/api/v1/series?match%5B%5D=up&start=-1",
        "/alertmanager/api/v2/alerts?filter=a%3D%22b%22&silenced=false",
    ] {
        let reply = send(&app, if path.contains("/rules/") { "DELETE" } else { "GET" }, path, &token).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let component = reply.header("x-upstream").unwrap();
        assert_eq!(upstream(&app, &component).last().target, path);
    }
}

#[actix_web::test]
async fn an_upstream_path_prefix_is_kept() {
    let app = TestApp::spawn_with(|_| {}).await;
    let prefixed = TestApp::spawn_with(|s| {
        s.upstreams.distributor.address = format!("{}/cortex/", app.distributor.url());
    })
    .await;
    let reply = prefixed.push(&token("a"), b"x").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(app.distributor.last().target, "/cortex/api/v1/push");
}

#[actix_web::test]
async fn a_configured_route_rewrites_the_upstream_path() {
    let app = TestApp::spawn_with(|s| {
        s.routing.routes = vec![
            RouteSettings {
                path: "/api/v1/push".into(),
                methods: vec!["POST".into()],
                component: "distributor".into(),
                upstream_path: Some("/api/v1/write".into()),
                ..Default::default()
            },
            RouteSettings {
                name: Some("vm_select".into()),
                path: "/select/{*rest}".into(),
                component: "query-frontend".into(),
                upstream_path: Some("/select/0/prometheus/{rest}".into()),
                ..Default::default()
            },
        ];
    })
    .await;
    let reply = app.push(&token("a"), b"x").await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.distributor.last().target, "/api/v1/write");
    let reply = app
        .get("/select/api/v1/query?query=up", Some(&token("a")))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.query_frontend.last().target,
        "/select/0/prometheus/api/v1/query?query=up"
    );
}

#[actix_web::test]
async fn routes_of_an_unconfigured_component_answer_404_with_a_reason() {
    let app = TestApp::spawn_with(|s| {
        s.upstreams.ruler.address.clear();
        s.upstreams.alertmanager.address.clear();
    })
    .await;
    let reply = app.get("/prometheus/api/v1/rules", Some(&token("a"))).await;
    assert_eq!(reply.status, 404);
    assert!(
        reply
            .text()
            .contains("ruler upstream, which is not configured"),
        "{}",
        reply.text()
    );
    let reply = app
        .get("/alertmanager/api/v2/status", Some(&token("a")))
        .await;
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("alertmanager"), "{}", reply.text());
    assert_eq!(app.upstream_request_count(), 0);
}
