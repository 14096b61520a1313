//! End to end with the programs users run: a real Prometheus scrapes and remote-writes through the
//! gateway binary into VictoriaMetrics (standing in for Cortex through a route rewrite), reads
//! come back through the gateway, and vmalert evaluates a rule through it. The store is stopped and
//! restarted mid-run. Needs the Debian packages `prometheus` and `victoria-metrics` (`.ci/run`
//! installs them); without them the suite is skipped loudly, except in CI, where it fails.

use crate::binary::Process;
use crate::helpers::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::Algorithm;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TENANT: &str = "e2e-tenant";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/examples");

/// True when the real programs are installed. Outside CI a missing one skips the suite with a loud
/// message; in CI (`CI=true`) it fails it.
fn tools_installed() -> bool {
    let missing: Vec<&str> = ["prometheus", "victoria-metrics", "vmalert"]
        .into_iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "end-to-end suite needs {missing:?}: apt-get install -y prometheus victoria-metrics (.ci/run does)"
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
    false
}

/// A background program, stopped when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, program: &str, args: &[String], dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|err| panic!("{name} starts: {err}"));
        Self { child, log }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn enc(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    match request.send().await {
        Ok(mut response) => {
            let body = response.body().limit(16 << 20).await.unwrap_or_default();
            (
                response.status().as_u16(),
                String::from_utf8_lossy(&body).into_owned(),
            )
        }
        Err(_) => (0, String::new()),
    }
}

async fn get_json(url: &str, token: Option<&str>) -> Value {
    let (status, body) = get(url, token).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{url}: not JSON: {body}"))
}

/// Sum of the sample values of lines of `metric` whose labels contain every `needle`.
fn metric_sum(text: &str, metric: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(metric) && line[metric.len()..].starts_with(['{', ' ']))
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What the store saw: every request, with the tenant header it carried.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A pass-through proxy in front of the store that records what reached it and plays a store that
/// rejects writes (`400`) on paths under `/reject`.
fn start_recording_proxy(store: String) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let state = web::Data::new((store, seen.clone()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).default_service(web::to(
            |req: HttpRequest, body: web::Bytes, state: web::Data<(String, Seen)>| async move {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|pq| pq.to_string())
                    .unwrap_or_default();
                let tenant = req
                    .headers()
                    .get("x-scope-orgid")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                state.1.lock().unwrap().push((target.clone(), tenant));
                if target.starts_with("/reject") {
                    return HttpResponse::BadRequest().body("rejected by the store\n");
                }
                let client = awc::Client::builder()
                    .disable_redirects()
                    .timeout(Duration::from_secs(10))
                    .finish();
                let mut upstream = client.request_from(format!("{}{target}", state.0), req.head());
                upstream.headers_mut().remove("host");
                match upstream.send_body(body).await {
                    Ok(mut response) => {
                        let mut reply = HttpResponse::build(response.status());
                        // Content-Encoding included: Go clients ask for gzip and get it.
                        for (name, value) in response.headers() {
                            if !matches!(
                                name.as_str(),
                                "content-length" | "transfer-encoding" | "connection"
                            ) {
                                reply.append_header((name.clone(), value.clone()));
                            }
                        }
                        reply.body(response.body().limit(64 << 20).await.unwrap_or_default())
                    }
                    Err(err) => {
                        HttpResponse::BadGateway().body(format!("store unreachable: {err}\n"))
                    }
                }
            },
        ))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (addr, seen)
}

fn start_store(port: u16, dir: &Path) -> Daemon {
    Daemon::start(
        "victoria-metrics",
        "victoria-metrics",
        &[
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.join("vm-data").display()),
            // Make fresh samples queryable at once.
            "-search.latencyOffset=0s".into(),
            "-search.disableCache".into(),
            "-loggerLevel=WARN".into(),
        ],
        dir,
    )
}

/// The shipped example, pointed at this run's gateway and token, scraping every second, plus a
/// second queue whose writes the store rejects.
fn prometheus_config(gateway: &str, token_file: &Path) -> String {
    let example = std::fs::read_to_string(format!("{EXAMPLES}/prometheus.yml")).unwrap();
    assert!(
        example.contains("cortex-gateway:8080")
            && example.contains("/etc/prometheus/cortex-gateway.jwt")
    );
    let fast_queue = "    queue_config:\n      batch_send_deadline: 200ms\n      min_backoff: 100ms\n      max_backoff: 500ms\n";
    format!(
        "{}{fast_queue}  - url: http://{gateway}/api/prom/push\n    authorization:\n      type: Bearer\n      credentials_file: {}\n{fast_queue}",
        example
            .replace("cortex-gateway:8080", gateway)
            .replace("/etc/prometheus/cortex-gateway.jwt", &token_file.display().to_string())
            .replace("scrape_interval: 15s", "scrape_interval: 1s"),
        token_file.display()
    )
}

#[actix_web::test]
async fn prometheus_and_vmalert_work_through_the_gateway_into_a_real_store() {
    if !tools_installed() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // The store, behind the recording proxy.
    let store_port = free_port();
    let store_url = format!("http://127.0.0.1:{store_port}");
    let mut store = start_store(store_port, dir);
    assert!(
        eventually_async(Duration::from_secs(30), || async {
            get(&format!("{store_url}/health"), None).await.0 == 200
        })
        .await,
        "victoria-metrics came up: {}",
        store.log()
    );
    let (proxy, seen) = start_recording_proxy(store_url.clone());

    // The gateway binary, routing remote write to the store's write path.
    let config = write_gateway_config(
        dir,
        &format!("http://{proxy}"),
        &format!(
            "[auth]\njwt_secret = \"{SECRET}\"\n\
             [[routing.routes]]\npath = \"/api/v1/push\"\nmethods = [\"POST\"]\ncomponent = \"distributor\"\nupstream_path = \"/api/v1/write\"\n\
             [[routing.routes]]\npath = \"/api/prom/push\"\nmethods = [\"POST\"]\ncomponent = \"distributor\"\nupstream_path = \"/reject/api/v1/write\"\n\
             [log]\naccess_log = false\n"
        ),
    );
    let gateway = Process::start(&["-config.file".into(), config.display().to_string()], &[]);
    let gw = gateway.addr.clone();
    let token = token(TENANT);
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();

    // The sender: the shipped example config, scraping the gateway and writing through it.
    let prometheus_port = free_port();
    let prom_url = format!("http://127.0.0.1:{prometheus_port}");
    std::fs::write(
        dir.join("prometheus.yml"),
        prometheus_config(&gw, &token_file),
    )
    .unwrap();
    let prometheus = Daemon::start(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
            "--log.level=warn".into(),
        ],
        dir,
    );

    // Writes arrive: the sender's own scrape of the gateway becomes queryable through the gateway.
    let query = |q: &str| format!("http://{gw}/prometheus/api/v1/query?query={}", enc(q));
    let first_sample = eventually_async(Duration::from_secs(60), || async {
        let (status, body) = get(&query("up{job=\"cortex-gateway\"}"), Some(&token)).await;
        status == 200 && body.contains("\"cortex-gateway\"")
    })
    .await;
    assert!(
        first_sample,
        "samples arrived; prometheus log:\n{}",
        prometheus.log()
    );
    let time_to_first_sample = started.elapsed();

    // Reads through the gateway equal reads from the store itself, at a fixed time.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let at = now() - 1;
    let (start, end) = (at - 30, at);
    for path in [
        format!(
            "/api/v1/query?query={}&time={at}",
            enc("up{job=\"cortex-gateway\"}")
        ),
        format!(
            "/api/v1/query?query={}&time={at}",
            enc("sum by (job) (cortex_gateway_proxy_requests_total)")
        ),
        format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step=2",
            enc("up{job=\"cortex-gateway\"}")
        ),
        format!(
            "/api/v1/series?{}&start={start}&end={end}",
            format_args!("match[]={}", enc("{job=\"cortex-gateway\"}"))
        ),
        format!("/api/v1/labels?start={start}&end={end}"),
        format!("/api/v1/label/job/values?start={start}&end={end}"),
    ] {
        let through = get_json(&format!("http://{gw}/prometheus{path}"), Some(&token)).await;
        let direct = get_json(&format!("{store_url}/prometheus{path}"), None).await;
        assert_eq!(through["status"], "success", "{path}");
        assert_eq!(through["data"], direct["data"], "{path}");
        assert_ne!(through["data"], json!([]), "{path} returned data");
    }

    // Without a valid token nothing reaches the store.
    let store_reads = |text: &str| {
        metric_sum(text, "vm_http_requests_total", &["/api/v1/"])
            - metric_sum(text, "vm_http_requests_total", &["/api/v1/write"])
    };
    let before_store = store_reads(&get(&format!("{store_url}/metrics"), None).await.1);
    let before_proxy = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.starts_with("/api/v1/write"))
        .count();
    let wrong_secret = sign(
        Algorithm::HS256,
        "a-different-secret-that-is-long-enough!",
        json!({"tenant_id": TENANT}),
    );
    let expired = sign(
        Algorithm::HS256,
        SECRET,
        json!({"tenant_id": TENANT, "exp": now() - 600}),
    );
    for token in [None, Some(wrong_secret.as_str()), Some(expired.as_str())] {
        for path in [
            "/api/v1/query?query=up",
            "/api/v1/labels",
            "/api/v1/series?match[]=up",
        ] {
            let (status, body) = get(&format!("http://{gw}/prometheus{path}"), token).await;
            assert_eq!(status, 401, "{path} with {token:?}: {body}");
        }
    }
    assert_eq!(
        store_reads(&get(&format!("{store_url}/metrics"), None).await.1),
        before_store
    );
    let after_proxy = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| !path.starts_with("/api/v1/write"))
        .count();
    assert_eq!(
        after_proxy, before_proxy,
        "no unauthenticated request reached the store"
    );

    // The Grafana example, as Grafana would use it.
    let grafana = std::fs::read_to_string(format!("{EXAMPLES}/grafana-datasource.yml")).unwrap();
    let field = |name: &str| {
        grafana
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|value| value.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("{name} in the Grafana example"))
    };
    let datasource = field("url:").replace("http://cortex-gateway:8080", &format!("http://{gw}"));
    let (header, value) = (
        field("httpHeaderName1:"),
        field("httpHeaderValue1:").replace("<token>", &token),
    );
    let mut response = client()
        .get(format!(
            "{datasource}/api/v1/query?query={}",
            enc("up{job=\"cortex-gateway\"}")
        ))
        .insert_header((header.as_str(), value.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
    assert_eq!(body["data"]["result"][0]["metric"]["job"], "cortex-gateway");

    // A second real client: vmalert evaluates a rule through the gateway.
    let notifier = TestUpstream::start("alertmanager");
    let rules = dir.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: e2e\n    interval: 1s\n    rules:\n      - alert: GatewayScraped\n        expr: up{job=\"cortex-gateway\"} == 1\n",
    )
    .unwrap();
    let vmalert_port = free_port();
    let vmalert = Daemon::start(
        "vmalert",
        "vmalert",
        &[
            format!("-rule={}", rules.display()),
            format!("-datasource.url=http://{gw}/prometheus"),
            format!("-datasource.bearerToken={token}"),
            format!("-notifier.url={}", notifier.url()),
            format!("-httpListenAddr=127.0.0.1:{vmalert_port}"),
            "-evaluationInterval=1s".into(),
            "-loggerLevel=WARN".into(),
        ],
        dir,
    );
    let firing = eventually_async(Duration::from_secs(30), || async {
        let (status, body) = get(
            &format!("http://127.0.0.1:{vmalert_port}/api/v1/alerts"),
            None,
        )
        .await;
        status == 200 && body.contains("GatewayScraped") && body.contains("firing")
    })
    .await;
    assert!(
        firing,
        "vmalert fired its rule through the gateway:\n{}",
        vmalert.log()
    );
    assert!(
        eventually(Duration::from_secs(10), || !notifier.requests().is_empty()).await,
        "the alert was sent"
    );

    // The store goes away for a while: the gateway answers 5xx, Prometheus retries, and after the
    // restart everything it scraped meanwhile arrives.
    let outage_start = now();
    store.stop();
    actix_web::rt::time::sleep(Duration::from_secs(5)).await;
    let outage_end = now();
    let write_queue = format!("url=\"http://{gw}/api/v1/push\"");
    let sender_metrics = get(&format!("{prom_url}/metrics"), None).await.1;
    assert!(
        metric_sum(
            &sender_metrics,
            "prometheus_remote_storage_samples_retried_total",
            &[&write_queue]
        ) > 0.0,
        "Prometheus retried the 5xx"
    );
    let mut store = start_store(store_port, dir);
    let caught_up = eventually_async(Duration::from_secs(60), || async {
        let (status, body) = get(
            &query(&format!(
                "timestamp(up{{job=\"cortex-gateway\"}}) > {}",
                outage_end + 2
            )),
            Some(&token),
        )
        .await;
        status == 200 && body.contains("\"cortex-gateway\"")
    })
    .await;
    assert!(caught_up, "the store is back and current: {}", store.log());
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let window = format!(
        "up{{job=\"cortex-gateway\"}}[{}s]",
        now() - outage_start + 5
    );
    let at = now();
    let timestamps = |body: Value| -> BTreeSet<i64> {
        body["data"]["result"][0]["values"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v[0].as_f64())
                    .map(|t| t.round() as i64)
                    .collect()
            })
            .unwrap_or_default()
    };
    let in_outage = |set: BTreeSet<i64>| -> BTreeSet<i64> {
        set.into_iter()
            .filter(|t| (outage_start as i64..=outage_end as i64).contains(t))
            .collect()
    };
    let sent = in_outage(timestamps(
        get_json(
            &format!("{prom_url}/api/v1/query?query={}&time={at}", enc(&window)),
            None,
        )
        .await,
    ));
    let stored = in_outage(timestamps(
        get_json(
            &format!(
                "http://{gw}/prometheus/api/v1/query?query={}&time={at}",
                enc(&window)
            ),
            Some(&token),
        )
        .await,
    ));
    assert!(
        sent.len() >= 3,
        "Prometheus scraped during the outage: {sent:?}"
    );
    assert!(
        sent.is_subset(&stored),
        "every sample from the outage arrived: sent {sent:?}, stored {stored:?}"
    );

    // Remote write's own rules: nothing failed on the main queue; the queue the store rejects with
    // 4xx dropped its samples without retrying them.
    let sender_metrics = get(&format!("{prom_url}/metrics"), None).await.1;
    let samples_sent = metric_sum(
        &sender_metrics,
        "prometheus_remote_storage_samples_total",
        &[&write_queue],
    );
    let failed = metric_sum(
        &sender_metrics,
        "prometheus_remote_storage_samples_failed_total",
        &[&write_queue],
    );
    let rejected_queue = format!("url=\"http://{gw}/api/prom/push\"");
    let rejected = metric_sum(
        &sender_metrics,
        "prometheus_remote_storage_samples_failed_total",
        &[&rejected_queue],
    );
    let rejected_retries = metric_sum(
        &sender_metrics,
        "prometheus_remote_storage_samples_retried_total",
        &[&rejected_queue],
    );
    assert!(samples_sent > 0.0);
    assert_eq!(failed, 0.0, "no sample failed on the main queue");
    assert!(
        rejected > 0.0,
        "the store's 4xx reached Prometheus, which dropped the samples"
    );
    assert_eq!(rejected_retries, 0.0, "4xx are not retried");

    // The series the sender has are the series the store has, and the store saw only our tenant.
    let series = |body: Value| {
        body["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap()
    };
    let count = enc("count({job=\"cortex-gateway\"})");
    let at = now() - 1;
    let pushed = series(
        get_json(
            &format!("{prom_url}/api/v1/query?query={count}&time={at}"),
            None,
        )
        .await,
    );
    let read_back = series(
        get_json(
            &format!("http://{gw}/prometheus/api/v1/query?query={count}&time={at}"),
            Some(&token),
        )
        .await,
    );
    assert_eq!(read_back, pushed, "series read back equal series pushed");
    let tenants: BTreeSet<Option<String>> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, tenant)| tenant.clone())
        .collect();
    assert_eq!(
        tenants,
        BTreeSet::from([Some(TENANT.to_owned())]),
        "X-Scope-OrgID was always the token's"
    );

    println!(
        "e2e: series pushed {pushed}, series read back {read_back}, samples sent {samples_sent}, failed {failed}, \
         rejected-and-dropped {rejected}, samples scraped during the outage {} (all stored), \
         time to first sample {time_to_first_sample:?}, whole run {:?}",
        sent.len(),
        started.elapsed()
    );
    store.stop();
    drop(vmalert);
    drop(prometheus);
}
