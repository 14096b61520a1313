//! Reloading: load + validate + swap, or keep the running config and say why. Settings that only
//! take effect at start-up are kept as they were and reported as needing a restart.

use super::{Config, ConfigError, ConfigSlot, ConfigSource, Settings};
use crate::metrics::GatewayMetrics;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Loads the configuration from its source and swaps it into the slot. Reloads are serialized.
pub struct Reloader {
    source: ConfigSource,
    slot: ConfigSlot,
    metrics: GatewayMetrics,
    version: AtomicU64,
    /// Fingerprint of the running configuration, so an event that changed nothing swaps nothing.
    running: Mutex<String>,
    /// Secret files named by the last configuration that parsed, valid or not: a fix may be to
    /// create one of them, and that must be seen.
    secret_files: Mutex<Vec<PathBuf>>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied { version: u64, hash: String },
    Unchanged { hash: String },
}

impl Reloader {
    pub fn new(source: ConfigSource, slot: ConfigSlot, metrics: GatewayMetrics) -> Self {
        let config = slot.load();
        metrics.config_started();
        Self {
            source,
            metrics,
            version: AtomicU64::new(1),
            running: Mutex::new(fingerprint(&config)),
            secret_files: Mutex::new(config.secret_files.clone()),
            slot,
        }
    }

    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// Secret files the configuration names, to be watched with the config file.
    pub fn current_secret_files(&self) -> Vec<PathBuf> {
        self.secret_files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads, validates and swaps in the configuration; on any problem the running one stays and
    /// the problem is logged on one line. `trigger` says what asked (file change, SIGHUP).
    pub fn reload(&self, trigger: &str) -> Result<ReloadOutcome, ConfigError> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = super::load_settings(&self.source).and_then(|mut settings| {
            *self.secret_files.lock().unwrap_or_else(|p| p.into_inner()) = settings
                .auth
                .keys
                .iter()
                .flat_map(super::validate::key_files)
                .collect();
            keep_restart_only(&self.slot.load().settings, &mut settings);
            Config::from_settings(settings)
        });
        let config = match result {
            Ok(config) => config,
            Err(err) => {
                self.metrics.config_reload_failed();
                let file = self
                    .source
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                tracing::error!(
                    trigger,
                    file,
                    problems = %err.to_string().replace('\n', "; "),
                    "configuration reload failed; keeping the running configuration"
                );
                return Err(err);
            }
        };
        let hash = fingerprint(&config);
        if *running == hash {
            // Still a success: it clears the failure of an edit that has since been reverted.
            self.metrics.config_reloaded();
            tracing::info!(trigger, hash, "configuration unchanged");
            return Ok(ReloadOutcome::Unchanged { hash });
        }
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        let (keys, routes) = (config.keys.len(), config.routes.routes().len());
        crate::telemetry::set_log_level(&config.settings.log.level);
        self.slot.store(config);
        self.metrics.config_reloaded();
        tracing::info!(
            trigger,
            version,
            hash,
            keys,
            routes,
            "configuration reloaded"
        );
        *running = hash.clone();
        Ok(ReloadOutcome::Applied { version, hash })
    }
}

/// Copies the settings that are fixed once the server runs from `running` into `next`, warning
/// about each one the new configuration tried to change.
fn keep_restart_only(running: &Settings, next: &mut Settings) {
    macro_rules! keep {
        ($($path:ident).+, $key:literal) => {
            if running.$($path).+ != next.$($path).+ {
                tracing::warn!(key = $key, "setting changed but only takes effect after a restart; keeping the running value");
                next.$($path).+ = running.$($path).+.clone();
            }
        };
    }
    keep!(server.http_listen_address, "server.http_listen_address");
    keep!(server.http_listen_port, "server.http_listen_port");
    keep!(server.workers, "server.workers");
    keep!(server.keep_alive, "server.keep_alive");
    keep!(server.shutdown_timeout, "server.shutdown_timeout");
    keep!(
        server.admin_http_listen_port,
        "server.admin_http_listen_port"
    );
    keep!(
        server.admin_http_listen_address,
        "server.admin_http_listen_address"
    );
    keep!(log.format, "log.format");
    keep!(tracing.otlp_endpoint, "tracing.otlp_endpoint");
    keep!(tracing.protocol, "tracing.protocol");
    keep!(tracing.service_name, "tracing.service_name");
    keep!(tracing.sampling_ratio, "tracing.sampling_ratio");
    keep!(upstreams.connect_timeout, "upstreams.connect_timeout");
    keep!(
        upstreams.max_connections_per_worker,
        "upstreams.max_connections_per_worker"
    );
}

/// A short, stable fingerprint of everything that shapes behaviour, secrets included (as their
/// own digests), so a rotated secret changes it while the log line shows nothing secret.
pub fn fingerprint(config: &Config) -> String {
    let mut hasher = Sha256::new();
    hasher.update(toml::to_string(&config.settings).unwrap_or_default());
    hasher.update(config.keys.fingerprint());
    hex::encode(&hasher.finalize()[..6])
}
