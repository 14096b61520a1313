//! Live configuration: key sets, every way a file changes under a running gateway, bad edits
//! that change nothing, and secret rotation under continuous traffic.

use crate::helpers::*;
use cortex_gateway::config::{KeySettings, Secret};
use std::path::Path;
use std::time::Duration;

const KEY_A: &str = "key-a-0123456789abcdef0123456789abcdef";
const KEY_B: &str = "key-b-fedcba9876543210fedcba9876543210";
/// Generous for a loaded CI machine; the rotation test holds the 2 s promise.
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);

fn inline_key(secret: &str) -> String {
    format!("[[auth.keys]]\nsecret = \"{secret}\"\n")
}

fn file_key(path: &Path) -> String {
    format!("[[auth.keys]]\nsecret_file = \"{}\"\n", path.display())
}

async fn accepted(app: &TestApp, secret: &str) -> bool {
    app.status_with(&token_for(secret, None, "t")).await == 200
}

async fn switches_to(app: &TestApp, secret: &str) -> bool {
    eventually_async(RELOAD_DEADLINE, || accepted(app, secret)).await
}

#[actix_web::test]
async fn a_kid_picks_its_key_and_tokens_without_one_try_every_key() {
    let app = TestApp::spawn_with(|s| {
        s.auth.jwt_secret = Secret::default();
        s.auth.keys = vec![
            KeySettings {
                kid: Some("a".into()),
                secret: Some(Secret::new(KEY_A)),
                ..Default::default()
            },
            KeySettings {
                kid: Some("b".into()),
                secret: Some(Secret::new(KEY_B)),
                ..Default::default()
            },
        ];
    })
    .await;
    assert_eq!(
        app.status_with(&token_for(KEY_B, Some("b"), "t")).await,
        200
    );
    assert_eq!(
        app.status_with(&token_for(KEY_A, Some("a"), "t")).await,
        200
    );
    // A kid is a promise: key a alone is tried, so B's signature fails.
    assert_eq!(
        app.status_with(&token_for(KEY_B, Some("a"), "t")).await,
        401
    );
    assert_eq!(app.status_with(&token_for(KEY_A, None, "t")).await, 200);
    assert_eq!(app.status_with(&token_for(KEY_B, None, "t")).await, 200);
    assert_eq!(app.status_with(&token_for(SECRET, None, "t")).await, 401);
}

#[actix_web::test]
async fn an_in_place_write_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    assert!(accepted(&app, KEY_A).await);
    app.write_config(&inline_key(KEY_B));
    assert!(switches_to(&app, KEY_B).await, "in-place write applied");
    assert!(!accepted(&app, KEY_A).await);
    assert!(
        app.metric("cortex_gateway_config_reloads_total{result=\"success\"}")
            .await
            >= Some(1.0)
    );
}

#[actix_web::test]
async fn an_editor_save_by_rename_and_an_atomic_mv_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    let file = dir.path().join("gateway.toml");

    // vim-style: write a new file beside it, rename it over the original.
    let swap = dir.path().join(".gateway.toml.swp");
    std::fs::write(&swap, app.config_text(&inline_key(KEY_B))).unwrap();
    std::fs::rename(&swap, &file).unwrap();
    assert!(switches_to(&app, KEY_B).await, "save-by-rename applied");

    // `mv tmp gateway.toml` from another name entirely.
    let tmp = dir.path().join("tmp.new");
    std::fs::write(&tmp, app.config_text(&inline_key(KEY_A))).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    assert!(switches_to(&app, KEY_A).await, "atomic mv applied");
}

#[actix_web::test]
async fn a_file_deleted_then_recreated_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    let file = dir.path().join("gateway.toml");
    std::fs::remove_file(&file).unwrap();
    // While it is gone the running config stays.
    assert!(accepted(&app, KEY_A).await);
    std::fs::write(&file, app.config_text(&inline_key(KEY_B))).unwrap();
    assert!(switches_to(&app, KEY_B).await, "recreated file applied");
}

/// Lays out a directory as the kubelet mounts a Secret: `name -> ..data/name`,
/// `..data -> ..<version>`, and swaps `..data` atomically to publish a new version.
pub struct KubernetesSecretDir<'a> {
    dir: &'a Path,
    name: &'a str,
    version: u32,
}

impl<'a> KubernetesSecretDir<'a> {
    pub fn create(dir: &'a Path, name: &'a str, secret: &str) -> Self {
        let mut mounted = Self {
            dir,
            name,
            version: 0,
        };
        mounted.publish(secret);
        std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        mounted
    }

    pub fn publish(&mut self, secret: &str) {
        let old = format!("..2026_12_03_{:02}", self.version);
        self.version += 1;
        let new = format!("..2026_12_03_{:02}", self.version);
        std::fs::create_dir(self.dir.join(&new)).unwrap();
        std::fs::write(self.dir.join(&new).join(self.name), format!("{secret}\n")).unwrap();
        std::os::unix::fs::symlink(&new, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        let _ = std::fs::remove_dir_all(self.dir.join(old));
    }
}

#[actix_web::test]
async fn a_kubernetes_secret_update_is_picked_up() {
    let config_dir = tempfile::tempdir().unwrap();
    let secret_dir = tempfile::tempdir().unwrap();
    let mut mounted = KubernetesSecretDir::create(secret_dir.path(), "jwt-secret", KEY_A);
    let app = TestApp::spawn_watched(
        config_dir.path(),
        &file_key(&secret_dir.path().join("jwt-secret")),
    )
    .await;
    assert!(accepted(&app, KEY_A).await);
    mounted.publish(KEY_B);
    assert!(switches_to(&app, KEY_B).await, "..data swap applied");
    assert!(!accepted(&app, KEY_A).await);
}

#[actix_web::test]
async fn a_relative_secret_file_is_found_beside_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwt-secret"), format!("{KEY_A}\n")).unwrap();
    let app =
        TestApp::spawn_watched(dir.path(), "[[auth.keys]]\nsecret_file = \"jwt-secret\"\n").await;
    assert!(accepted(&app, KEY_A).await);
    std::fs::write(dir.path().join("jwt-secret"), KEY_B).unwrap();
    assert!(
        switches_to(&app, KEY_B).await,
        "secret file rewrite applied"
    );
}

#[actix_web::test]
async fn a_broken_edit_keeps_the_running_config_until_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    let successful = "cortex_gateway_config_last_reload_successful";
    assert_eq!(app.metric(successful).await, Some(1.0));
    assert!(
        app.metric("cortex_gateway_config_last_reload_success_timestamp_seconds")
            .await
            .unwrap()
            > 0.0
    );

    std::fs::write(app.config_file.as_ref().unwrap(), "[auth\nbroken = ").unwrap();
    assert!(
        eventually_async(RELOAD_DEADLINE, || async {
            app.metric(successful).await == Some(0.0)
        })
        .await
    );
    assert_eq!(
        app.metric("cortex_gateway_config_reloads_total{result=\"failure\"}")
            .await,
        Some(1.0)
    );
    assert!(accepted(&app, KEY_A).await, "the old config keeps serving");

    // Valid TOML, invalid config: an unknown key and a weak secret.
    app.write_config(&format!("{}\nsurprise = 1\n", inline_key("short")));
    assert!(
        eventually_async(RELOAD_DEADLINE, || async {
            app.metric("cortex_gateway_config_reloads_total{result=\"failure\"}")
                .await
                == Some(2.0)
        })
        .await
    );
    assert!(accepted(&app, KEY_A).await, "the old config keeps serving");

    app.write_config(&inline_key(KEY_B));
    assert!(switches_to(&app, KEY_B).await);
    assert_eq!(app.metric(successful).await, Some(1.0));
}

#[actix_web::test]
async fn a_missing_secret_file_keeps_the_old_key_until_the_file_appears() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    let secret_file = dir.path().join("secrets").join("new-key");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    app.write_config(&file_key(&secret_file));
    assert!(
        eventually_async(RELOAD_DEADLINE, || async {
            app.metric("cortex_gateway_config_last_reload_successful")
                .await
                == Some(0.0)
        })
        .await
    );
    assert!(accepted(&app, KEY_A).await, "old key still in force");
    std::fs::write(&secret_file, "").unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert!(
        accepted(&app, KEY_A).await,
        "an empty secret file changes nothing"
    );
    std::fs::write(&secret_file, KEY_B).unwrap();
    assert!(
        switches_to(&app, KEY_B).await,
        "the secret file appearing completes the change"
    );
}

#[actix_web::test]
async fn restart_only_settings_are_kept_and_the_rest_applies() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_watched(dir.path(), &inline_key(KEY_A)).await;
    let text = app
        .config_text(&inline_key(KEY_B))
        .replace("http_listen_port = 0", "http_listen_port = 1")
        .replace("workers = 1", "workers = 7");
    std::fs::write(app.config_file.as_ref().unwrap(), text).unwrap();
    assert!(switches_to(&app, KEY_B).await, "the key change applied");
    let config = app.get("/config", None).await.text();
    assert!(config.contains("http_listen_port = 0"), "{config}");
    assert!(config.contains("workers = 1"), "{config}");
}

#[actix_web::test]
async fn config_endpoint_shows_effective_settings_with_secrets_redacted() {
    let app = TestApp::spawn_with(|s| {
        s.auth.keys = vec![KeySettings {
            kid: Some("k1".into()),
            secret: Some(Secret::new(KEY_A)),
            ..Default::default()
        }];
    })
    .await;
    let toml = app.get("/config", None).await;
    assert_eq!(toml.status, 200);
    assert!(
        toml.text()
            .contains(&format!("address = \"{}\"", app.distributor.url())),
        "{}",
        toml.text()
    );
    assert!(
        toml.text().contains("jwt_secret = \"<redacted>\""),
        "{}",
        toml.text()
    );
    assert!(
        toml.text().contains("secret = \"<redacted>\""),
        "{}",
        toml.text()
    );
    let json = app.get("/config?format=json", None).await;
    assert_eq!(
        json.header("content-type").as_deref(),
        Some("application/json")
    );
    let parsed: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(parsed["auth"]["keys"][0]["kid"], "k1");
    assert_eq!(parsed["auth"]["keys"][0]["secret"], "<redacted>");
    for body in [toml.text(), json.text()] {
        assert!(
            !body.contains(SECRET) && !body.contains(KEY_A),
            "a secret leaked: {body}"
        );
    }
}

/// A → A+B → B under continuous traffic: each step applies within 2 s, and no request with a
/// token valid before and after a step fails.
#[actix_web::test]
async fn secrets_rotate_under_traffic_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = dir.path().join("key-a");
    let key_b = dir.path().join("key-b");
    std::fs::write(&key_a, KEY_A).unwrap();
    std::fs::write(&key_b, KEY_B).unwrap();
    let app = std::rc::Rc::new(TestApp::spawn_watched(dir.path(), &file_key(&key_a)).await);

    let traffic = |secret: &'static str| {
        let app = app.clone();
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = stop.clone();
        let task = actix_web::rt::spawn(async move {
            let token = token_for(secret, None, "rotating");
            let (mut ok, mut failed) = (0u32, 0u32);
            while !flag.get() {
                match app.status_with(&token).await {
                    200 => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
        (stop, task)
    };

    let (stop_a, traffic_a) = traffic(KEY_A);
    let started = std::time::Instant::now();
    app.write_config(&format!("{}{}", file_key(&key_a), file_key(&key_b)));
    assert!(
        eventually_async(Duration::from_secs(2), || accepted(&app, KEY_B)).await,
        "A+B within 2 s"
    );
    println!("A → A+B applied after {:?}", started.elapsed());

    let (stop_b, traffic_b) = traffic(KEY_B);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    stop_a.set(true);
    let (ok_a, failed_a) = traffic_a.await.unwrap();
    assert!(ok_a > 0);
    assert_eq!(
        failed_a, 0,
        "token A failed while A was configured ({ok_a} ok)"
    );

    let started = std::time::Instant::now();
    app.write_config(&file_key(&key_b));
    assert!(
        eventually_async(Duration::from_secs(2), || async {
            !accepted(&app, KEY_A).await
        })
        .await,
        "B alone within 2 s"
    );
    println!("A+B → B applied after {:?}", started.elapsed());
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    stop_b.set(true);
    let (ok_b, failed_b) = traffic_b.await.unwrap();
    assert!(ok_b > 0);
    assert_eq!(
        failed_b, 0,
        "token B failed while B was configured ({ok_b} ok)"
    );
    println!("rotation: {ok_a} requests with A, {ok_b} with B, 0 failed");
}
