//! The `cortex-gateway` binary as operators run it: the original's flags, refusal to start on a
//! bad config, graceful shutdown.

use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_cortex-gateway");

/// A running gateway process; killed when dropped.
pub struct Process {
    child: Child,
    pub addr: String,
    pub log: mpsc::Receiver<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts the binary with `args` and waits for its "listening" line.
    pub fn start(args: &[String], envs: &[(&str, &str)]) -> Self {
        let mut child: Child = Command::new(BINARY)
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        // Owned by `process` from here on, so a failed start still kills and reaps it.
        let mut process = Self {
            child,
            addr: String::new(),
            log,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let remaining = deadline.saturating_duration_since(std::time::Instant::now());
            let line = process
                .log
                .recv_timeout(remaining)
                .expect("the gateway logged its listening address");
            if !line.contains("cortex-gateway listening") {
                continue;
            }
            // logfmt `address=1.2.3.4:5` or JSON `"address":"1.2.3.4:5"`.
            let value = line
                .split("address=")
                .nth(1)
                .or_else(|| line.split("\"address\":\"").nth(1));
            if let Some(rest) = value {
                process.addr = rest.split(['"', ' ', ',']).next().unwrap().to_owned();
                return process;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A remote-write style POST to `/api/v1/push` with `Authorization: Bearer <token>`.
    pub async fn push(&self, token: &str, body: &'static str) -> Reply {
        let request = client()
            .post(self.url("/api/v1/push"))
            .insert_header(("authorization", format!("Bearer {token}")));
        Reply::from(request.send_body(body).await).await
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[actix_web::test]
async fn the_original_flags_work_with_one_dash_and_two() {
    let upstream = TestUpstream::start("distributor");
    for dash in ["-", "--"] {
        let process = Process::start(
            &[
                format!("{dash}gateway.distributor.address={}", upstream.url()),
                format!("{dash}gateway.query-frontend.address"),
                upstream.url(),
                format!("{dash}gateway.auth.jwt-secret"),
                SECRET.to_owned(),
                format!("{dash}server.http-listen-address=127.0.0.1"),
                format!("{dash}server.http-listen-port=0"),
                format!("{dash}log.level=warn,cortex_gateway=info"),
            ],
            &[],
        );
        let client = client();
        let mut health = client.get(process.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.body().await.unwrap(), "Ok");
        let reply = process.push(&token("development"), "x").await;
        assert_eq!(reply.status, 200, "{dash}: {}", reply.text());
        assert_eq!(
            upstream.last().header("x-scope-orgid").as_deref(),
            Some("development")
        );
    }
}

#[test]
fn start_up_refuses_a_bad_config_and_names_the_key() {
    let good_upstream = "http://127.0.0.1:9";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            args(&[
                "-gateway.query-frontend.address",
                good_upstream,
                "-gateway.auth.jwt-secret",
                SECRET,
            ]),
            "upstreams.distributor.address",
        ),
        (
            args(&[
                "-gateway.distributor.address",
                good_upstream,
                "-gateway.query-frontend.address",
                good_upstream,
            ]),
            "auth.jwt_secret: no signing key",
        ),
        (
            args(&[
                "-gateway.distributor.address",
                good_upstream,
                "-gateway.query-frontend.address",
                good_upstream,
                "-gateway.auth.jwt-secret",
                "short",
            ]),
            "auth.jwt_secret: secret is 5 bytes",
        ),
        (
            args(&[
                "-gateway.distributor.address",
                "ftp://cortex",
                "-gateway.query-frontend.address",
                good_upstream,
                "-gateway.auth.jwt-secret",
                SECRET,
            ]),
            "upstreams.distributor.address: scheme \"ftp\"",
        ),
        (
            args(&[
                "-gateway.distributor.address",
                "cortex:9009",
                "-gateway.query-frontend.address",
                good_upstream,
                "-gateway.auth.jwt-secret",
                SECRET,
            ]),
            "upstreams.distributor.address",
        ),
        (
            args(&["-config.file", "/nonexistent/gateway.toml"]),
            "config.file: cannot read /nonexistent/gateway.toml",
        ),
    ];
    for (arguments, expected) in cases {
        let output = Command::new(BINARY).args(&arguments).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{arguments:?}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains(SECRET), "the secret must never be printed");
    }
}

#[test]
fn the_shipped_config_runs_once_given_a_secret() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut process = Process::start(
        &args(&[
            "-config.file",
            &format!("{root}/gateway.toml"),
            "-server.http-listen-address=127.0.0.1",
            "-server.http-listen-port=0",
        ]),
        &[("CORTEX_GATEWAY_AUTH__JWT_SECRET", SECRET)],
    );
    let health = std::net::TcpStream::connect(&process.addr);
    assert!(health.is_ok(), "the gateway accepts connections");
    process.signal("TERM");
    assert_eq!(process.wait_exit(Duration::from_secs(10)), Some(0));
}

#[actix_web::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let upstream = TestUpstream::start("distributor");
    let mut process = Process::start(
        &[
            format!("-gateway.distributor.address={}", upstream.url()),
            format!("-gateway.query-frontend.address={}", upstream.url()),
            format!("-gateway.auth.jwt-secret={SECRET}"),
            "-server.http-listen-address=127.0.0.1".into(),
            "-server.http-listen-port=0".into(),
            "-server.graceful-shutdown-timeout=10s".into(),
        ],
        &[],
    );
    let request = client()
        .post(process.url("/api/v1/push"))
        .insert_header(("authorization", format!("Bearer {}", token("a"))))
        .insert_header(("x-test-delay-ms", "1500"))
        .send_body("in flight");
    let pending = actix_web::rt::spawn(async move { Reply::from(request.await).await });
    // Signal only once the request is inside the upstream, so it is truly in flight.
    assert!(eventually(Duration::from_secs(10), || !upstream.requests().is_empty()).await);
    process.signal("TERM");
    let reply = pending.await.unwrap();
    assert_eq!(
        reply.status,
        200,
        "the in-flight request finished: {}",
        reply.text()
    );
    assert_eq!(process.wait_exit(Duration::from_secs(15)), Some(0));
    let drained =
        std::iter::from_fn(|| process.log.try_recv().ok()).any(|line| line.contains("SIGTERM"));
    assert!(drained, "the shutdown was logged");
}

async fn scrape(process: &Process, series: &str) -> Option<f64> {
    let mut response = client().get(process.url("/metrics")).send().await.ok()?;
    let text = String::from_utf8(response.body().await.ok()?.to_vec()).ok()?;
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[actix_web::test]
async fn sighup_reloads_the_configuration() {
    let upstream = TestUpstream::start("distributor");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, SECRET).unwrap();
    let file = write_gateway_config(
        dir.path(),
        &upstream.url(),
        "[[auth.keys]]\nsecret_file = \"key\"\n",
    );
    let process = Process::start(&args(&["-config.file", file.to_str().unwrap()]), &[]);
    let success = "cortex_gateway_config_reloads_total{result=\"success\"}";
    assert_eq!(scrape(&process, success).await, Some(0.0));
    process.signal("HUP");
    assert!(
        eventually_async(Duration::from_secs(10), || async {
            scrape(&process, success).await == Some(1.0)
        })
        .await,
        "SIGHUP caused a reload"
    );
    let logged = std::iter::from_fn(|| process.log.recv_timeout(Duration::from_secs(2)).ok())
        .any(|line| line.contains("SIGHUP") && line.contains("hash="));
    assert!(logged, "the reload was logged with its trigger and hash");
    let token = token("t");
    let reply = process.push(&token, "x").await;
    assert_eq!(reply.status, 200, "still serving after SIGHUP");

    // A bad edit: one log line names the file, the key and the problem; the old config serves on.
    std::fs::write(&key_file, "short").unwrap();
    let failed = std::iter::from_fn(|| process.log.recv_timeout(Duration::from_secs(10)).ok())
        .find(|line| line.contains("configuration reload failed"))
        .expect("the failed reload was logged");
    assert!(failed.contains(&file.display().to_string()), "{failed}");
    assert!(
        failed.contains("auth.keys[0].secret_file: secret is 5 bytes"),
        "{failed}"
    );
    assert!(
        !failed.contains(SECRET) && !failed.contains("short\""),
        "no secret in the log: {failed}"
    );
    let reply = process.push(&token, "x").await;
    assert_eq!(reply.status, 200, "the running config kept serving");
}

#[test]
fn check_config_accepts_a_good_file_and_lists_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_gateway_config(
        dir.path(),
        "http://127.0.0.1:9009",
        &format!("[auth]\njwt_secret = \"{SECRET}\"\n"),
    );
    let output = Command::new(BINARY)
        .args(["check-config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK (1 signing keys"));

    let output = Command::new(BINARY)
        .args(["-config.file", good.to_str().unwrap(), "-config.check"])
        .output()
        .unwrap();
    assert!(output.status.success(), "-config.check works too");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nhttp_listen_port = 8080\n[upstreams.distributor]\naddress = \"ftp://x\"\n\
         [[auth.keys]]\nkid = \"a\"\nsecret = \"short\"\n[[auth.keys]]\nkid = \"b\"\nsecret_file = \"missing-file\"\n\
         [[routing.routes]]\npath = \"/x\"\ncomponent = \"ingester\"\n",
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "auth.keys[0].secret: secret is 5 bytes",
        "auth.keys[1].secret_file: cannot read",
        "upstreams.distributor.address: scheme \"ftp\"",
        "upstreams.query_frontend.address: the query-frontend address is required",
        "routing.routes[0].component",
    ] {
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
    }

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[server]\nhttp_listen_prot = 1\n").unwrap();
    let output = Command::new(BINARY)
        .args(["check-config", unknown.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("http_listen_prot"),
        "unknown keys are errors: {stderr}"
    );
}
