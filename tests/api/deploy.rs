//! The deployment kit in deploy/: the systemd unit, the Dockerfile, the Kubernetes manifests, the
//! dashboard and alerts, checked with the tools operators use where they are installed (.ci/run
//! installs them; in CI a missing one fails), and run against the real gateway where they can be.

use crate::binary::Process;
use crate::helpers::*;
use crate::reload::KubernetesSecretDir;
use serde_norway::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
const BINARY: &str = env!("CARGO_BIN_EXE_cortex-gateway");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{DEPLOY}/{path}"))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Whether `tool` can run. Missing outside CI skips the check loudly; in CI it fails.
fn tool(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is required in CI (.ci/run installs it)"
    );
    eprintln!("\n!!!!! SKIPPED: {tool} is not installed; .ci/run installs it !!!!!\n");
    false
}

fn unit_value<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let unit = read("systemd/cortex-gateway.service");
    assert_eq!(unit_value(&unit, "User"), ["cortex-gateway"]);
    assert_eq!(unit_value(&unit, "ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(unit_value(&unit, "Restart"), ["on-failure"]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(unit_value(&unit, key), [value], "{key}");
    }
    // Stop waits longer than the gateway's default drain of 30 s.
    let stop: u64 = unit_value(&unit, "TimeoutStopSec")[0]
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(stop > 30, "TimeoutStopSec={stop}");

    if !tool("systemd-analyze") {
        return;
    }
    // verify insists that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cortex-gateway.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/cortex-gateway", BINARY)).unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Unknown or misspelt directives are only warnings; they fail here.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned:\n{stderr}"
    );
}

#[test]
fn the_dockerfile_lints_and_builds_as_a_non_root_minimal_image() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with(' ') && !line.trim().is_empty())
        .collect();
    let starting = |word: &str| {
        instructions
            .iter()
            .filter(|line| line.starts_with(word))
            .count()
    };
    assert!(starting("FROM ") >= 2, "multi-stage");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(
        dockerfile.contains("ARG RUST_VERSION=1."),
        "the toolchain is pinned"
    );
    assert!(
        instructions.contains(&"USER 65532:65532"),
        "runs as non-root"
    );
    assert!(instructions.contains(&"STOPSIGNAL SIGTERM"));
    assert_eq!(starting("HEALTHCHECK "), 1);
    assert!(dockerfile.contains(r#""probe", "http://127.0.0.1:8080/health""#));
    assert_eq!(starting("ENV "), 0, "no secret or setting baked in");
    assert!(
        !dockerfile.to_lowercase().contains("secret ="),
        "no secret baked in"
    );

    if tool("hadolint") {
        let output = Command::new("hadolint")
            .arg(format!("{DEPLOY}/Dockerfile"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "hadolint:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[actix_web::test]
async fn the_health_check_probe_answers_for_a_live_gateway_only() {
    let app = TestApp::spawn().await;
    // Off the test's runtime thread, which must keep serving the gateway meanwhile.
    let probe = |url: String| async move {
        actix_web::rt::task::spawn_blocking(move || {
            Command::new(BINARY)
                .args(["probe", &url])
                .status()
                .unwrap()
                .success()
        })
        .await
        .unwrap()
    };
    assert!(probe(app.url("/health")).await);
    assert!(
        !probe(app.url("/api/v1/push")).await,
        "a 401 is not healthy"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    assert!(!probe(format!("http://{address}/health")).await);
}

/// Every document of every manifest, parsed strictly.
fn manifests() -> Vec<(String, Value)> {
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(format!("{DEPLOY}/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" || !name.ends_with(".yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(document).unwrap_or_else(|err| panic!("{name}: {err}"));
            documents.push((name.clone(), value));
        }
    }
    documents
}

use serde::Deserialize;

fn kind<'a>(documents: &'a [(String, Value)], kind: &str) -> &'a Value {
    documents
        .iter()
        .map(|(_, doc)| doc)
        .find(|doc| doc["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("a {kind} manifest"))
}

fn str_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string, not {value:?}"))
}

#[test]
fn the_kubernetes_manifests_fit_together() {
    let documents = manifests();
    for (name, doc) in &documents {
        assert!(
            doc["apiVersion"].as_str().is_some() && doc["kind"].as_str().is_some(),
            "{name}"
        );
        assert_eq!(
            doc["metadata"]["name"]
                .as_str()
                .map(|n| n.starts_with("cortex-gateway")),
            Some(true),
            "{name}"
        );
    }
    let kustomization: Value =
        serde_norway::from_str(&read("kubernetes/kustomization.yaml")).unwrap();
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let files: BTreeSet<&str> = documents.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(listed, files, "kustomization lists every manifest");

    let deployment = kind(&documents, "Deployment");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    let labels = &spec["selector"]["matchLabels"];
    assert_eq!(&spec["template"]["metadata"]["labels"], labels);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false)
    );
    assert_eq!(
        str_of(&container["readinessProbe"]["httpGet"]["path"]),
        "/ready"
    );
    assert_eq!(
        str_of(&container["livenessProbe"]["httpGet"]["path"]),
        "/health"
    );
    assert!(container["resources"]["requests"]["cpu"].as_str().is_some());
    assert!(container["resources"]["requests"]["memory"]
        .as_str()
        .is_some());
    let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop pause");
    let ports: BTreeSet<&str> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| str_of(&p["name"]))
        .collect();
    for probe in ["readinessProbe", "livenessProbe"] {
        assert!(
            ports.contains(str_of(&container[probe]["httpGet"]["port"])),
            "{probe} port"
        );
    }

    // The Secret is mounted as a directory (a subPath mount never sees updates).
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    assert!(
        mounts.iter().all(|m| m.get("subPath").is_none()),
        "no subPath mounts"
    );
    let volumes = pod["volumes"].as_sequence().unwrap();
    let secret_volume = volumes
        .iter()
        .find(|v| v.get("secret").is_some())
        .expect("a Secret volume");
    let secret_name = str_of(&secret_volume["secret"]["secretName"]);
    assert_eq!(
        str_of(&kind(&documents, "Secret")["metadata"]["name"]),
        secret_name
    );
    let keys_mount = mounts
        .iter()
        .find(|m| m["name"] == secret_volume["name"])
        .unwrap();
    let keys_dir = str_of(&keys_mount["mountPath"]);
    let config_volume = volumes
        .iter()
        .find(|v| v.get("configMap").is_some())
        .unwrap();
    assert_eq!(
        str_of(&kind(&documents, "ConfigMap")["metadata"]["name"]),
        str_of(&config_volume["configMap"]["name"])
    );
    let config_dir = str_of(
        &mounts
            .iter()
            .find(|m| m["name"] == config_volume["name"])
            .unwrap()["mountPath"],
    );
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(
        args,
        ["-config.file", &format!("{config_dir}/gateway.toml")]
    );

    // The ConfigMap's gateway.toml is valid once the key is there, names files under the mount,
    // and drains within the grace period.
    let toml = str_of(&kind(&documents, "ConfigMap")["data"]["gateway.toml"]);
    assert!(
        toml.contains(&format!("secret_file = \"{keys_dir}/")),
        "keys come from the mounted Secret"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("primary"), SECRET).unwrap();
    let local = dir.path().join("gateway.toml");
    std::fs::write(
        &local,
        toml.replace(keys_dir, &dir.path().display().to_string()),
    )
    .unwrap();
    let checked = Command::new(BINARY)
        .arg("check-config")
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let settings: toml::Value = toml::from_str(toml).unwrap();
    let drain = humantime::parse_duration(settings["server"]["shutdown_timeout"].as_str().unwrap())
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > pre_stop + drain.as_secs(),
        "grace {grace}s > preStop {pre_stop}s + drain {drain:?}"
    );
    // The shipped Secret is empty, which the gateway refuses, so nothing runs on a placeholder.
    std::fs::write(dir.path().join("primary"), "").unwrap();
    let refused = Command::new(BINARY)
        .arg("check-config")
        .arg(&local)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr)
        .contains("auth.keys[0].secret_file: secret is empty"));
    let admin_port = settings["server"]["admin_http_listen_port"]
        .as_integer()
        .unwrap();
    let container_port = |name: &str| {
        container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["containerPort"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(container_port("admin"), admin_port);
    assert_eq!(
        container_port("http"),
        settings["server"]["http_listen_port"].as_integer().unwrap()
    );

    let service = kind(&documents, "Service");
    assert_eq!(&service["spec"]["selector"], labels);
    let service_ports: BTreeSet<&str> = service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| str_of(&p["targetPort"]))
        .collect();
    assert!(service_ports.is_subset(&ports));
    let monitor = kind(&documents, "ServiceMonitor");
    assert_eq!(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        (str_of(&endpoint["port"]), str_of(&endpoint["path"])),
        ("admin", "/metrics")
    );
    let pdb = kind(&documents, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    let hpa = kind(&documents, "HorizontalPodAutoscaler");
    assert_eq!(
        str_of(&hpa["spec"]["scaleTargetRef"]["name"]),
        str_of(&deployment["metadata"]["name"])
    );
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
}

/// Names of `cortex_gateway_*` metrics in a PromQL text, with histogram suffixes kept.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("cortex_gateway_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[actix_web::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana/cortex-gateway.json")).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    let panels: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for needed in [
        "Request rate by route",
        "Error ratio by route (5xx)",
        "Latency p50 by route",
        "Latency p99 by route",
        "Authentication failures by reason",
        "Upstream errors by component and kind",
        "Config reload",
        "In-flight requests",
    ] {
        assert!(panels.contains(&needed), "dashboard shows {needed}");
    }
    let alerts: Value = serde_norway::from_str(&read("prometheus/alerts.yaml")).unwrap();
    let mut alert_names = BTreeSet::new();
    for rule in alerts["groups"][0]["rules"].as_sequence().unwrap() {
        alert_names.insert(str_of(&rule["alert"]).to_owned());
        exprs.push(str_of(&rule["expr"]).to_owned());
    }
    for needed in [
        "CortexGatewayDown",
        "CortexGatewayHigh5xxRatio",
        "CortexGatewayAuthFailureSpike",
        "CortexGatewayConfigReloadFailing",
        "CortexGatewayUpstreamUnreachable",
    ] {
        assert!(alert_names.contains(needed), "alert {needed}");
    }

    // Real traffic, so every histogram has series, then one scrape.
    let app = TestApp::spawn().await;
    assert_eq!(app.push(&token("a"), b"x").await.status, 200);
    assert_eq!(app.push("bad", b"x").await.status, 401);
    let metrics = app.metrics().await;
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(used.len() >= 10, "{used:?}");
    for name in &used {
        assert!(
            exported.contains(name.as_str()),
            "{name} is used by the dashboard or alerts but not exported"
        );
    }

    if tool("promtool") {
        let output = Command::new("promtool")
            .args([
                "check",
                "rules",
                &format!("{DEPLOY}/prometheus/alerts.yaml"),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn token_command(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(BINARY);
    command
        .arg("-config.file")
        .arg(config)
        .arg("token")
        .args(args);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A gateway configured as the Kubernetes manifests configure it: the ConfigMap's gateway.toml and
/// a key directory laid out as the kubelet mounts the Secret, rotated by a `..data` swap.
#[actix_web::test]
async fn a_secret_rotated_as_kubernetes_does_reloads_and_minted_tokens_follow() {
    let upstream = TestUpstream::start("distributor");
    let documents = manifests();
    let toml = str_of(&kind(&documents, "ConfigMap")["data"]["gateway.toml"]).to_owned();
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    const FIRST: &str = "first-key-0123456789abcdef0123456789ab";
    const SECOND: &str = "second-key-0123456789abcdef0123456789a";
    let mut mounted = KubernetesSecretDir::create(&keys, "primary", FIRST);
    let mut settings: toml::Table =
        toml::from_str(&toml.replace("/etc/cortex-gateway/keys", &keys.display().to_string()))
            .unwrap();
    let server = settings["server"].as_table_mut().unwrap();
    server.insert("http_listen_address".into(), "127.0.0.1".into());
    server.insert("http_listen_port".into(), 0.into());
    server.insert("admin_http_listen_address".into(), "127.0.0.1".into());
    server.insert("admin_http_listen_port".into(), 0.into());
    server.insert("workers".into(), 1.into());
    for component in ["distributor", "query_frontend"] {
        settings["upstreams"][component]
            .as_table_mut()
            .unwrap()
            .insert("address".into(), upstream.url().into());
    }
    let config: PathBuf = root.path().join("gateway.toml");
    std::fs::write(&config, toml::to_string(&settings).unwrap()).unwrap();
    let process = Process::start(&["-config.file".into(), config.display().to_string()], &[]);

    let push = |token: String| {
        let process = &process;
        async move { process.push(&token, "x").await.status }
    };

    // Minted with the configured key: accepted by the running gateway, explained by inspect.
    let (ok, first_token, err) =
        token_command(&config, &["--tenant", "team-k8s", "--ttl", "1h"], None);
    assert!(ok, "{err}");
    assert_eq!(push(first_token.clone()).await, 200);
    assert_eq!(
        upstream.last().header("x-scope-orgid").as_deref(),
        Some("team-k8s")
    );
    let (ok, report, _) = token_command(&config, &["inspect", &first_token], None);
    assert!(ok, "{report}");
    assert!(
        report.contains("kid=primary")
            && report.contains("accepted")
            && report.contains("team-k8s"),
        "{report}"
    );

    // The kubelet publishes a new Secret version; the gateway follows without a restart.
    mounted.publish(SECOND);
    assert!(
        eventually_async(Duration::from_secs(10), || async {
            push(first_token.clone()).await == 401
        })
        .await,
        "the old key stopped working"
    );
    let (ok, report, _) = token_command(&config, &["inspect"], Some(&first_token));
    assert!(
        !ok && report.contains("rejected (invalid_signature)"),
        "{report}"
    );
    let (ok, second_token, err) =
        token_command(&config, &["--tenant", "team-k8s", "--kid", "primary"], None);
    assert!(ok, "{err}");
    assert_eq!(push(second_token).await, 200);

    // Tokens the gateway would refuse are not minted, and expired ones are explained.
    let (ok, _, err) = token_command(&config, &["--tenant", "a|b"], None);
    assert!(!ok && err.contains("--tenant"), "{err}");
    let (ok, _, err) = token_command(&config, &["--tenant", "a", "--kid", "missing"], None);
    assert!(
        !ok && err.contains("no configured key has kid \"missing\""),
        "{err}"
    );
    let expired = sign(
        jsonwebtoken::Algorithm::HS256,
        SECOND,
        serde_json::json!({"tenant_id": "a", "exp": now() - 3600}),
    );
    let (ok, report, _) = token_command(&config, &["inspect", &expired], None);
    assert!(
        !ok && report.contains("rejected (expired)") && report.contains("ago"),
        "{report}"
    );
}
