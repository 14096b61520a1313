//! Logs and traces of the real binary: one access line per request and never a token; spans
//! exported over OTLP/HTTP that continue the caller's trace and reach upstream in W3C and Jaeger
//! form.

use crate::binary::Process;
use crate::helpers::*;
use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One exported span: its trace id (hex), name and string attributes.
#[derive(Debug, Clone)]
struct ExportedSpan {
    trace_id: String,
    name: String,
    attributes: HashMap<String, String>,
}

/// A real OTLP/HTTP receiver (protobuf) on loopback that keeps every span it is sent.
fn start_otlp_receiver() -> (String, Arc<Mutex<Vec<ExportedSpan>>>) {
    let spans: Arc<Mutex<Vec<ExportedSpan>>> = Arc::default();
    let store = web::Data::from(spans.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().app_data(store.clone()).route(
            "/v1/traces",
            web::post().to(
                |body: web::Bytes, store: web::Data<Mutex<Vec<ExportedSpan>>>| async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return HttpResponse::BadRequest().finish();
                    };
                    let mut spans = store.lock().unwrap();
                    for span in request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .flat_map(|s| &s.spans)
                    {
                        let attributes = span
                            .attributes
                            .iter()
                            .filter_map(|kv| {
                                let value = match kv.value.as_ref()?.value.as_ref()? {
                                    Value::StringValue(s) => s.clone(),
                                    Value::IntValue(i) => i.to_string(),
                                    other => format!("{other:?}"),
                                };
                                Some((kv.key.clone(), value))
                            })
                            .collect();
                        spans.push(ExportedSpan {
                            trace_id: span.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                            name: span.name.clone(),
                            attributes,
                        });
                    }
                    HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .finish()
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, spans)
}

/// A gateway config with the test secret, returned as the path to pass to `-config.file`.
fn config(dir: &std::path::Path, upstream: &str, extra: &str) -> String {
    let auth = format!("[auth]\njwt_secret = \"{SECRET}\"\n{extra}");
    write_gateway_config(dir, upstream, &auth)
        .to_string_lossy()
        .into_owned()
}

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const JAEGER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[actix_web::test]
async fn spans_continue_the_callers_trace_and_propagate_in_both_formats() {
    let (receiver, spans) = start_otlp_receiver();
    let upstream = TestUpstream::start("query-frontend");
    let dir = tempfile::tempdir().unwrap();
    let file = config(
        dir.path(),
        &upstream.url(),
        &format!("[tracing]\notlp_endpoint = \"{receiver}\"\n"),
    );
    let process = Process::start(
        &["-config.file".to_owned(), file],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let client = client();
    let token = token("traced");

    // W3C in.
    let reply = Reply::from(
        client
            .get(process.url("/prometheus/api/v1/query?query=up"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("traceparent", format!("00-{TRACE_ID}-b7ad6b7169203331-01")))
            .send()
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = upstream.last();
    let traceparent = seen.header("traceparent").expect("W3C context propagated");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE_ID}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("b7ad6b7169203331"),
        "the gateway's span is the parent upstream"
    );
    let uber = seen
        .header("uber-trace-id")
        .expect("Jaeger context propagated");
    assert!(uber.starts_with(&format!("{TRACE_ID}:")), "{uber}");

    // Jaeger in.
    let reply = Reply::from(
        client
            .post(process.url("/api/v1/push"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header((
                "uber-trace-id",
                format!("{JAEGER_TRACE_ID}:00f067aa0ba902b7:0:1"),
            ))
            .send_body("x")
            .await,
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = upstream.last();
    assert!(
        seen.header("traceparent")
            .unwrap()
            .contains(JAEGER_TRACE_ID),
        "{:?}",
        seen.headers
    );
    assert!(seen
        .header("uber-trace-id")
        .unwrap()
        .starts_with(JAEGER_TRACE_ID));

    let exported = eventually(Duration::from_secs(20), || {
        let spans = spans.lock().unwrap();
        let trace = |id: &str| spans.iter().filter(|s| s.trace_id == id).count();
        trace(TRACE_ID) >= 2 && trace(JAEGER_TRACE_ID) >= 2
    })
    .await;
    let spans = spans.lock().unwrap().clone();
    assert!(exported, "spans of both traces arrived: {spans:#?}");
    let root = spans
        .iter()
        .find(|s| s.trace_id == TRACE_ID && s.attributes.contains_key("tenant"))
        .unwrap_or_else(|| panic!("a root span with the tenant: {spans:#?}"));
    assert_eq!(root.attributes["tenant"], "traced");
    assert_eq!(root.attributes["route"], "prometheus_api_v1_query");
    assert_eq!(root.attributes["component"], "query-frontend");
    assert!(
        spans
            .iter()
            .any(|s| s.trace_id == TRACE_ID && s.name == "upstream"),
        "a child span for the upstream call: {spans:#?}"
    );
}

#[actix_web::test]
async fn one_access_line_per_request_and_never_a_token() {
    let upstream = TestUpstream::start("distributor");
    let dir = tempfile::tempdir().unwrap();
    for (format, access_log) in [("logfmt", true), ("json", true), ("logfmt", false)] {
        let file = config(
            dir.path(),
            &upstream.url(),
            &format!("[log]\nformat = \"{format}\"\naccess_log = {access_log}\n"),
        );
        let mut process = Process::start(&["-config.file".to_owned(), file], &[]);
        let token = token("development");
        let reply = process.push(&token, "twelve bytes").await;
        assert_eq!(reply.status, 200);
        let refused = process.push("leaked.token.value", "x").await;
        assert_eq!(refused.status, 401);
        process.signal("TERM");
        assert_eq!(process.wait_exit(Duration::from_secs(10)), Some(0));
        let lines: Vec<String> =
            std::iter::from_fn(|| process.log.recv_timeout(Duration::from_secs(2)).ok()).collect();
        let access: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("target=access") || l.contains("\"target\":\"access\""))
            .collect();
        for line in &lines {
            assert!(
                !line.contains(&token) && !line.contains("leaked.token.value"),
                "a token was logged: {line}"
            );
            assert!(!line.contains(SECRET), "the secret was logged: {line}");
        }
        if !access_log {
            assert!(access.is_empty(), "access log is off: {access:?}");
            continue;
        }
        assert_eq!(access.len(), 2, "{format}: {lines:#?}");
        match format {
            "json" => {
                let entry: serde_json::Value = serde_json::from_str(access[0]).unwrap();
                assert_eq!(entry["tenant"], "development");
                assert_eq!(entry["route"], "api_v1_push");
                assert_eq!(entry["status"], 200);
                assert_eq!(entry["upstream"], "distributor");
                assert_eq!(entry["bytes_in"], 12);
                assert!(entry["duration"].is_string());
            }
            _ => {
                for field in [
                    "tenant=development",
                    "route=api_v1_push",
                    "status=200",
                    "upstream=distributor",
                    "bytes_in=12",
                ] {
                    assert!(access[0].contains(field), "{field} in {}", access[0]);
                }
                assert!(
                    access[1].contains("tenant=- ") && access[1].contains("status=401"),
                    "{}",
                    access[1]
                );
            }
        }
    }
}

#[actix_web::test]
async fn the_log_level_follows_a_config_reload() {
    let upstream = TestUpstream::start("distributor");
    let dir = tempfile::tempdir().unwrap();
    let file = config(
        dir.path(),
        &upstream.url(),
        "[log]\nlevel = \"warn,cortex_gateway=info\"\n",
    );
    let process = Process::start(&["-config.file".to_owned(), file], &[]);
    let push = || async { assert_eq!(process.push(&token("loud"), "x").await.status, 200) };
    let access_lines = || {
        std::iter::from_fn(|| process.log.recv_timeout(Duration::from_millis(300)).ok())
            .filter(|line| line.contains("target=access") && line.contains("route=api_v1_push"))
            .count()
    };
    push().await;
    assert_eq!(access_lines(), 0, "info lines are filtered at warn");

    config(dir.path(), &upstream.url(), "[log]\nlevel = \"info\"\n");
    let reloaded = eventually_async(Duration::from_secs(10), || async {
        let mut response = client().get(process.url("/metrics")).send().await.unwrap();
        let body = response.body().await.unwrap();
        String::from_utf8_lossy(&body)
            .contains("cortex_gateway_config_reloads_total{result=\"success\"} 1")
    })
    .await;
    assert!(reloaded);
    push().await;
    assert_eq!(access_lines(), 1, "the new level applies without a restart");
}
