//! The raw settings tree as written in `gateway.toml`, with a documented default on every field.

use super::Secret;
use bytesize::ByteSize;
use figment::value::magic::RelativePathBuf;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything the gateway can be told. Unknown keys are errors, so a typo never goes unnoticed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub upstreams: UpstreamsSettings,
    pub routing: RoutingSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub tracing: TracingSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on. Default `0.0.0.0`. Restart-only.
    pub http_listen_address: String,
    /// Port to listen on; 0 picks a free one. Default `8080`. Restart-only.
    pub http_listen_port: u16,
    /// actix worker threads; 0 means one per CPU core. Default `0`. Restart-only.
    pub workers: usize,
    /// Largest request body accepted; larger ones get `413`. Default `100MiB`
    /// (Cortex's distributor accepts 100 MB gRPC messages).
    pub max_request_body: ByteSize,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Idle keep-alive of client connections. Default `75s` (longer than Prometheus' 30s push
    /// interval, so remote-write connections are reused).
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Port of a separate admin listener serving `/metrics`, `/config`, `/health` and `/ready`,
    /// which then leave the tenant-facing port (`/health` and `/ready` stay on both). Default
    /// unset: everything on the one port, as the original. Restart-only.
    pub admin_http_listen_port: Option<u16>,
    /// Address of the admin listener. Default `127.0.0.1`. Restart-only.
    pub admin_http_listen_address: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 8080,
            workers: 0,
            max_request_body: ByteSize::mib(100),
            shutdown_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(75),
            admin_http_listen_port: None,
            admin_http_listen_address: "127.0.0.1".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Single HMAC secret, as the original's `-gateway.auth.jwt-secret`; verifies HS256/384/512
    /// tokens. At least 32 bytes. Default empty (unused when `keys` are given).
    pub jwt_secret: Secret,
    /// Signing keys; all are active at once, which is how a secret is rotated. Default none.
    pub keys: Vec<KeySettings>,
    /// Refuse tokens without an `exp` claim. Default `false`: the original never checked it and
    /// tokens minted for it have none.
    pub require_exp: bool,
    /// Clock skew tolerated when checking `exp` and `nbf`. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// When non-empty, a token's `aud` must name one of these. Default empty (not checked, as the
    /// original).
    pub audiences: Vec<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: Secret::default(),
            keys: Vec::new(),
            require_exp: false,
            leeway: Duration::from_secs(30),
            audiences: Vec::new(),
        }
    }
}

/// One signing key. An `hmac` key takes its secret exactly one way: `secret`, `secret_env` or
/// `secret_file`. An `rsa`, `ec` or `eddsa` key takes the issuer's public key from
/// `public_key_file`, so the gateway never holds what signs tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// Key id; a token whose header names a `kid` is checked against that key only.
    pub kid: Option<String>,
    /// Algorithm family, which pins the algorithms a token may use with this key: `hmac`
    /// (HS256, HS384, HS512), `rsa` (RS256/384/512, PS256/384/512), `ec` (ES256, ES384) or
    /// `eddsa` (EdDSA). Default `hmac`.
    pub family: KeyFamily,
    /// The secret inline (prefer `secret_file`).
    pub secret: Option<Secret>,
    /// Name of an environment variable holding the secret.
    pub secret_env: Option<String>,
    /// File holding the secret (systemd credential, Kubernetes Secret); a relative path is taken
    /// from the config file's directory, and a trailing newline is ignored.
    pub secret_file: Option<RelativePathBuf>,
    /// PEM public key for `rsa`, `ec` and `eddsa` keys; relative to the config file's directory.
    pub public_key_file: Option<RelativePathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFamily {
    #[default]
    Hmac,
    Rsa,
    Ec,
    Eddsa,
}

/// Where each Cortex/Mimir component listens. Distributor and query-frontend are required.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamsSettings {
    pub distributor: UpstreamSettings,
    pub query_frontend: UpstreamSettings,
    /// Serves `user_stats`; unset means those routes answer `404`.
    pub querier: UpstreamSettings,
    /// Serves rules and the ruler's alerts; unset means those routes answer `404`.
    pub ruler: UpstreamSettings,
    /// Serves `/alertmanager` and the Alertmanager config API; unset means `404`.
    pub alertmanager: UpstreamSettings,
    /// Time allowed to open a connection to any upstream. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Pooled connections per upstream host and worker. Default `256`.
    pub max_connections_per_worker: usize,
}

impl Default for UpstreamsSettings {
    fn default() -> Self {
        Self {
            distributor: UpstreamSettings::with_timeout(30),
            query_frontend: UpstreamSettings::with_timeout(120),
            querier: UpstreamSettings::with_timeout(120),
            ruler: UpstreamSettings::with_timeout(30),
            alertmanager: UpstreamSettings::with_timeout(30),
            connect_timeout: Duration::from_secs(5),
            max_connections_per_worker: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Base URL, `http://` or `https://`, optionally with a path prefix. Default empty (unset).
    pub address: String,
    /// Time allowed until the upstream's response headers arrive; then `504`. Defaults: 30s for
    /// distributor, ruler and alertmanager, 2m for query-frontend and querier.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self::with_timeout(30)
    }
}

impl UpstreamSettings {
    fn with_timeout(seconds: u64) -> Self {
        Self {
            address: String::new(),
            timeout: Duration::from_secs(seconds),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Serve the built-in Cortex/Mimir route table. Default `true`.
    pub builtin_routes: bool,
    /// Extra routes. One with the name or path of a built-in route replaces it. Default none.
    pub routes: Vec<RouteSettings>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            builtin_routes: true,
            routes: Vec::new(),
        }
    }
}

/// One route: which requests it takes and where they go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteSettings {
    /// Stable name, used as the `route` metric label. Default: derived from `path` as Cortex does
    /// (`/api/v1/push` → `api_v1_push`).
    pub name: Option<String>,
    /// Path pattern: literal segments, `{param}` for one segment, `{*rest}` for the remainder.
    pub path: String,
    /// Allowed methods; empty allows all.
    pub methods: Vec<String>,
    /// `distributor`, `query-frontend`, `querier`, `ruler` or `alertmanager`.
    pub component: String,
    /// Path sent upstream instead of the request's; may use the pattern's `{param}`s. Default:
    /// the request's path unchanged.
    pub upstream_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a tracing filter. Default `info`.
    pub level: String,
    /// `logfmt` or `json`. Default `logfmt`.
    pub format: LogFormat,
    /// One line per proxied request. Default `true`.
    pub access_log: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Logfmt,
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Label `cortex_gateway_succeeded_authentications_total` by tenant. Turn off when there are
    /// many tenants: the label is then empty, i.e. absent. Default `true`.
    pub tenant_label: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { tenant_label: true }
    }
}

/// OpenTelemetry trace export over OTLP/HTTP (Jaeger ingests it on port 4318). Off unless an
/// endpoint is given here or in `OTEL_EXPORTER_OTLP_ENDPOINT`/`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
/// Restart-only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingSettings {
    /// Base URL of the OTLP/HTTP receiver, e.g. `http://jaeger:4318` (`/v1/traces` is appended).
    /// Default empty.
    pub otlp_endpoint: String,
    /// `http/protobuf` or `http/json`. Default `http/protobuf`.
    pub protocol: String,
    /// Service name on the spans. Default empty: `OTEL_SERVICE_NAME`, else `cortex-gateway`.
    pub service_name: String,
    /// Fraction of new traces sampled; traces started upstream of the gateway keep their
    /// decision. Default `1.0`.
    pub sampling_ratio: f64,
}

impl Default for TracingSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            protocol: "http/protobuf".into(),
            service_name: String::new(),
            sampling_ratio: 1.0,
        }
    }
}
