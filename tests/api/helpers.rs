//! Test harness: recording upstreams, a gateway wired to them, tokens, and a client.

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::{Bytes, BytesMut};
use cortex_gateway::config::{Config, ConfigSource, ConfigWatcher, Reloader, Settings};
use cortex_gateway::server::{Gateway, Readiness};
use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, Semaphore};

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

/// What one upstream received for one request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as they arrived on the wire.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Recorded {
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.header_values(name).into_iter().next()
    }
}

pub struct UpstreamState {
    pub name: &'static str,
    pub requests: Mutex<Vec<Recorded>>,
    /// Released by the test to let a gated streaming response finish.
    pub gate: Semaphore,
    /// Notified when a request body's first chunk has arrived.
    pub first_chunk: Notify,
}

/// A real HTTP server standing in for a Cortex component. It records every request and answers
/// as the request's `x-test-*` headers ask (they pass through the gateway like any header).
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
}

impl TestUpstream {
    pub fn start(name: &'static str) -> Self {
        let state = Arc::new(UpstreamState {
            name,
            requests: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
            first_chunk: Notify::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the upstream received a request")
    }

    pub fn release_gate(&self) {
        self.state.gate.add_permits(1);
    }
}

async fn answer(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<UpstreamState>,
) -> HttpResponse {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().body("body broke off");
        };
        if body.is_empty() {
            state.first_chunk.notify_one();
        }
        body.extend_from_slice(&chunk);
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.requests.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map(|pq| pq.to_string())
            .unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect(),
        body: body.freeze(),
    });

    if let Some(ms) = header("x-test-delay-ms").and_then(|v| v.parse().ok()) {
        actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = header("x-test-status").and_then(|v| v.parse::<u16>().ok()) {
        let status = StatusCode::from_u16(status).unwrap();
        return HttpResponse::build(status)
            .insert_header(("x-upstream", state.name))
            .finish();
    }
    if header("x-test-gate").is_some() {
        let gated = state.clone();
        let chunks = futures_util::stream::unfold(0u8, move |step| {
            let state = gated.clone();
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(Bytes::from_static(b"first\n")), 1)),
                    1 => {
                        state.gate.acquire().await.unwrap().forget();
                        Some((Ok(Bytes::from_static(b"second\n")), 2))
                    }
                    _ => None,
                }
            }
        });
        return HttpResponse::Ok().streaming(chunks);
    }
    if header("x-test-break").is_some() {
        // Starts a response, then fails it: the connection is cut mid-body. The pause lets the
        // head and first chunk go out before the failure.
        let chunks = futures_util::stream::unfold(0u8, |step| async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"partial")), 1)),
                1 => {
                    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
                    Some((Err(std::io::Error::other("upstream broke off")), 2))
                }
                _ => None,
            }
        });
        // Announce 100 bytes, send 7: an upstream that dies mid-response.
        return HttpResponse::Ok().no_chunking(100).streaming(chunks);
    }
    if let Some(size) = header("x-test-response-bytes").and_then(|v| v.parse::<usize>().ok()) {
        return HttpResponse::Ok()
            .insert_header(("x-upstream", state.name))
            .body(pattern(size));
    }
    HttpResponse::Ok()
        .insert_header(("x-upstream", state.name))
        .insert_header(("content-type", "text/plain"))
        .body(format!("from {}", state.name))
}

/// Deterministic, non-repeating-looking bytes (including non-UTF-8) for body fidelity checks.
pub fn pattern(size: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// Five recording upstreams and a gateway routing to them.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Set for a gateway served from a file with a live watcher.
    pub config_file: Option<PathBuf>,
    pub watcher: Option<ConfigWatcher>,
    pub readiness: Readiness,
    pub admin_addr: Option<SocketAddr>,
    pub distributor: TestUpstream,
    pub query_frontend: TestUpstream,
    pub querier: TestUpstream,
    pub ruler: TestUpstream,
    pub alertmanager: TestUpstream,
    pub client: awc::Client,
}

/// Settings for a test gateway: loopback, port 0, one worker, the test secret, given upstreams.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.http_listen_address = "127.0.0.1".into();
    settings.server.http_listen_port = 0;
    settings.server.workers = 1;
    settings.auth.jwt_secret = cortex_gateway::config::Secret::new(SECRET);
    settings
}

pub fn client() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(30))
        .finish()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts upstreams and a gateway whose settings `adjust` may change last.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut app = Self::upstreams_only();
        let mut settings = test_settings();
        settings.upstreams.distributor.address = app.distributor.url();
        settings.upstreams.query_frontend.address = app.query_frontend.url();
        settings.upstreams.querier.address = app.querier.url();
        settings.upstreams.ruler.address = app.ruler.url();
        settings.upstreams.alertmanager.address = app.alertmanager.url();
        adjust(&mut settings);
        let config = Config::from_settings(settings).expect("test settings are valid");
        app.serve(Gateway::bind(config).expect("gateway binds"));
        app
    }

    /// Starts upstreams and a gateway served from `dir/gateway.toml`, watched live. The file is
    /// the upstream part written by the harness followed by `extra` (see [`Self::write_config`]).
    pub async fn spawn_watched(dir: &Path, extra: &str) -> Self {
        let mut app = Self::upstreams_only();
        let file = dir.join("gateway.toml");
        app.config_file = Some(file.clone());
        app.write_config(extra);
        let source = ConfigSource {
            file: Some(file),
            overrides: vec![],
        };
        let config = Config::load(&source).expect("the test config is valid");
        let gateway = Gateway::bind(config).expect("gateway binds");
        let reloader = Reloader::new(source, gateway.slot.clone(), gateway.metrics.clone());
        app.watcher = Some(ConfigWatcher::start(Arc::new(reloader)).expect("watcher starts"));
        app.serve(gateway);
        app
    }

    fn upstreams_only() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config_file: None,
            watcher: None,
            readiness: Readiness::default(),
            admin_addr: None,
            distributor: TestUpstream::start("distributor"),
            query_frontend: TestUpstream::start("query-frontend"),
            querier: TestUpstream::start("querier"),
            ruler: TestUpstream::start("ruler"),
            alertmanager: TestUpstream::start("alertmanager"),
            client: client(),
        }
    }

    fn serve(&mut self, gateway: Gateway) {
        self.addr = gateway.addr;
        self.admin_addr = gateway.admin_addr;
        self.readiness = gateway.readiness.clone();
        actix_web::rt::spawn(gateway.serve());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The config text for a watched gateway: loopback, one worker, these upstreams, then `extra`.
    pub fn config_text(&self, extra: &str) -> String {
        format!(
            "[server]\nhttp_listen_address = \"127.0.0.1\"\nhttp_listen_port = 0\nworkers = 1\n\n\
             [upstreams.distributor]\naddress = \"{}\"\n[upstreams.query_frontend]\naddress = \"{}\"\n\n{extra}\n",
            self.distributor.url(),
            self.query_frontend.url()
        )
    }

    /// Rewrites the watched config file in place.
    pub fn write_config(&self, extra: &str) {
        let file = self.config_file.as_ref().expect("a watched gateway");
        std::fs::write(file, self.config_text(extra)).unwrap();
    }

    /// Status of a query with `token`.
    pub async fn status_with(&self, token: &str) -> u16 {
        self.get("/prometheus/api/v1/query?query=up", Some(token))
            .await
            .status
    }

    /// The value of the sample line starting with `series` on /metrics, if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }
    /// Every request any upstream received.
    pub fn upstream_request_count(&self) -> usize {
        [
            &self.distributor,
            &self.query_frontend,
            &self.querier,
            &self.ruler,
            &self.alertmanager,
        ]
        .iter()
        .map(|u| u.requests().len())
        .sum()
    }

    pub async fn push(&self, token: &str, body: &'static [u8]) -> Reply {
        let request = self
            .client
            .post(self.url("/api/v1/push"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-encoding", "snappy"))
            .insert_header(("content-type", "application/x-protobuf"))
            .insert_header(("x-prometheus-remote-write-version", "0.1.0"));
        Reply::from(request.send_body(body).await).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        Reply::from(request.send().await).await
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics", None).await.text()
    }
}

/// What the client saw.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Reply {
    pub async fn from<S>(
        result: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    ) -> Self
    where
        S: futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
    {
        let mut response = result.expect("the gateway answered");
        let body = response.body().limit(64 << 20).await.expect("body read");
        Self {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sign(alg: Algorithm, secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A valid HS256 token for `tenant` signed with `secret`, optionally naming a key id.
pub fn token_for(secret: &str, kid: Option<&str>, tenant: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let claims = json!({"tenant_id": tenant, "exp": now() + 3600});
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Polls an async `check` until it holds or `deadline` passes.
pub async fn eventually_async<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() >= deadline {
            return false;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A valid HS256 token for `tenant`, expiring in an hour.
pub fn token(tenant: &str) -> String {
    sign(
        Algorithm::HS256,
        SECRET,
        json!({"tenant_id": tenant, "version": 1, "exp": now() + 3600}),
    )
}

/// Writes `dir/gateway.toml` for a gateway binary on loopback port 0 with one worker, sending
/// distributor and query-frontend traffic to `upstream`, followed by `extra` TOML.
pub fn write_gateway_config(dir: &Path, upstream: &str, extra: &str) -> PathBuf {
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nhttp_listen_address = \"127.0.0.1\"\nhttp_listen_port = 0\nworkers = 1\n\
             [upstreams.distributor]\naddress = \"{upstream}\"\n\
             [upstreams.query_frontend]\naddress = \"{upstream}\"\n{extra}"
        ),
    )
    .unwrap();
    file
}

/// Polls `check` until it holds or `deadline` passes.
pub async fn eventually(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        if check() {
            return true;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// A raw HTTP/1.1 exchange over TCP, for what a high-level client would normalize away.
pub struct RawConnection(tokio::net::TcpStream);

impl RawConnection {
    pub async fn open(addr: SocketAddr) -> Self {
        Self(tokio::net::TcpStream::connect(addr).await.unwrap())
    }

    pub fn stream(&mut self) -> &mut tokio::net::TcpStream {
        &mut self.0
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.0.write_all(bytes).await.unwrap();
        self.0.flush().await.unwrap();
    }

    /// Reads until the peer closes, or `deadline` passes, and returns the raw response.
    pub async fn read_response(&mut self, deadline: Duration) -> String {
        use tokio::io::AsyncReadExt;
        let mut response = Vec::new();
        let _ = actix_web::rt::time::timeout(deadline, self.0.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }
}
