//! The gateway's Prometheus metrics, in one registry that actix-web-prom serves on `/metrics`:
//! the request histogram the Cortex/Mimir dashboards read (labelled by stable route name), the
//! original gateway's counters, upstream health per component, reloads, in-flight and build info.

mod observe;

pub use observe::{observe, Exchange};

use crate::auth::{AuthError, TenantId};
use crate::proxy::Component;
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Buckets of the request histograms: Prometheus' defaults stretched to 100 s, for long queries.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0,
];

/// How an upstream call failed, the `kind` label of `cortex_gateway_upstream_errors_total`.
pub const UPSTREAM_ERROR_KINDS: [&str; 3] = ["connect", "timeout", "reset"];

#[derive(Clone)]
pub struct GatewayMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    request_duration: HistogramVec,
    inflight: IntGauge,
    failed_authentications: IntCounterVec,
    succeeded_authentications: IntCounterVec,
    proxy_requests: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    upstream_sent_bytes: IntCounterVec,
    upstream_received_bytes: IntCounterVec,
    config_last_reload_successful: IntGauge,
    config_last_reload_success_timestamp: Gauge,
    config_reloads: IntCounterVec,
    /// Route labels of the gateway's own endpoints and of paths no route matched, made once.
    route_names: RouteNames,
}

struct RouteNames {
    health: Arc<str>,
    ready: Arc<str>,
    metrics: Arc<str>,
    config: Arc<str>,
    other: Arc<str>,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> C {
    registry
        .register(Box::new(collector.clone()))
        .unwrap_or_else(|err| panic!("metric registered twice: {err}"));
    collector
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|err| panic!("metric {name} is malformed: {err}"));
    register(registry, counter)
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
    let histogram = HistogramVec::new(opts, labels)
        .unwrap_or_else(|err| panic!("metric {name} is malformed: {err}"));
    register(registry, histogram)
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let request_duration = histogram(
            &registry,
            "cortex_gateway_request_duration_seconds",
            "Time to serve a request, until its last response byte, by method, route and status.",
            &["method", "route", "status_code"],
        );
        let inflight = register(
            &registry,
            IntGauge::new(
                "cortex_gateway_inflight_requests",
                "Requests being served now.",
            )
            .expect("valid gauge"),
        );
        let failed_authentications = counter(
            &registry,
            "cortex_gateway_failed_authentications_total",
            "Requests refused because their bearer token was missing or invalid, by reason.",
            &["reason"],
        );
        let succeeded_authentications = counter(
            &registry,
            "cortex_gateway_succeeded_authentications_total",
            "Requests whose bearer token was valid, by tenant (empty when metrics.tenant_label is off).",
            &["tenant"],
        );
        let proxy_requests = counter(
            &registry,
            "cortex_gateway_proxy_requests_total",
            "Requests forwarded to an upstream component.",
            &["targetname"],
        );
        let upstream_duration = histogram(
            &registry,
            "cortex_gateway_upstream_request_duration_seconds",
            "Time until an upstream's response headers arrived, by component and status.",
            &["component", "status_code"],
        );
        let upstream_errors = counter(
            &registry,
            "cortex_gateway_upstream_errors_total",
            "Upstream calls that failed, by component and kind (connect, timeout, reset).",
            &["component", "kind"],
        );
        let upstream_sent_bytes = counter(
            &registry,
            "cortex_gateway_upstream_sent_bytes_total",
            "Request body bytes sent to upstreams, by component.",
            &["component"],
        );
        let upstream_received_bytes = counter(
            &registry,
            "cortex_gateway_upstream_received_bytes_total",
            "Response body bytes received from upstreams and relayed, by component.",
            &["component"],
        );
        let config_last_reload_successful = register(
            &registry,
            IntGauge::new(
                "cortex_gateway_config_last_reload_successful",
                "Whether the last configuration reload succeeded (1) or kept the old configuration (0).",
            )
            .expect("valid gauge"),
        );
        let config_last_reload_success_timestamp = register(
            &registry,
            Gauge::new(
                "cortex_gateway_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load.",
            )
            .expect("valid gauge"),
        );
        let config_reloads = counter(
            &registry,
            "cortex_gateway_config_reloads_total",
            "Configuration reloads attempted, by result (success, failure).",
            &["result"],
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "cortex_gateway_build_info",
                    "Always 1; the labels name the build.",
                ),
                &["version", "revision"],
            )
            .expect("valid gauge"),
        );
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("CORTEX_GATEWAY_REVISION").unwrap_or("unknown"),
            ])
            .set(1);

        // Exist from the first scrape, so rate() and alerts see a zero rather than nothing.
        for reason in AuthError::REASONS {
            failed_authentications.with_label_values(&[reason]);
        }
        for component in Component::ALL {
            let name = component.as_str();
            proxy_requests.with_label_values(&[name]);
            upstream_sent_bytes.with_label_values(&[name]);
            upstream_received_bytes.with_label_values(&[name]);
            for kind in UPSTREAM_ERROR_KINDS {
                upstream_errors.with_label_values(&[name, kind]);
            }
        }
        for result in ["success", "failure"] {
            config_reloads.with_label_values(&[result]);
        }

        Self(Arc::new(Inner {
            registry,
            request_duration,
            inflight,
            failed_authentications,
            succeeded_authentications,
            proxy_requests,
            upstream_duration,
            upstream_errors,
            upstream_sent_bytes,
            upstream_received_bytes,
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            config_reloads,
            route_names: RouteNames {
                health: "health".into(),
                ready: "ready".into(),
                metrics: "metrics".into(),
                config: "config".into(),
                other: "other".into(),
            },
        }))
    }

    /// The actix-web-prom middleware that answers `GET /metrics` from this registry. Its own
    /// per-request metrics are switched off: it can only label by actix resource pattern, and
    /// tenant routes live in the gateway's reloadable route table, so the gateway records
    /// `cortex_gateway_request_duration_seconds` itself (see [`observe`]).
    pub fn exporter(&self) -> PrometheusMetrics {
        PrometheusMetricsBuilder::new("cortex_gateway_actix")
            .registry(self.0.registry.clone())
            .endpoint("/metrics")
            .exclude_regex(".*")
            .build()
            .unwrap_or_else(|err| panic!("actix-web-prom refused the registry: {err}"))
    }

    pub fn auth_succeeded(&self, tenant: &TenantId, tenant_label: bool) {
        let tenant = if tenant_label { tenant.as_str() } else { "" };
        self.0
            .succeeded_authentications
            .with_label_values(&[tenant])
            .inc();
    }

    pub fn auth_failed(&self, err: &AuthError) {
        self.0
            .failed_authentications
            .with_label_values(&[err.reason()])
            .inc();
    }

    pub fn proxied(&self, component: Component) {
        self.0
            .proxy_requests
            .with_label_values(&[component.as_str()])
            .inc();
    }

    pub fn upstream_answered(&self, component: Component, status: &str, elapsed: Duration) {
        self.0
            .upstream_duration
            .with_label_values(&[component.as_str(), status])
            .observe(elapsed.as_secs_f64());
    }

    pub fn upstream_failed(&self, component: Component, kind: &str) {
        self.0
            .upstream_errors
            .with_label_values(&[component.as_str(), kind])
            .inc();
    }

    fn upstream_bytes(&self, component: Component, sent: u64, received: u64) {
        let name = [component.as_str()];
        self.0
            .upstream_sent_bytes
            .with_label_values(&name)
            .inc_by(sent);
        self.0
            .upstream_received_bytes
            .with_label_values(&name)
            .inc_by(received);
    }

    fn request_started(&self) {
        self.0.inflight.inc();
    }

    fn request_finished(&self, method: &str, route: &str, status: &str, elapsed: Duration) {
        self.0.inflight.dec();
        self.0
            .request_duration
            .with_label_values(&[method, route, status])
            .observe(elapsed.as_secs_f64());
    }

    /// The route label of one of the gateway's own named endpoints, or of an unmatched path.
    fn own_route(&self, name: Option<&str>) -> Arc<str> {
        let names = &self.0.route_names;
        match name {
            Some("health") => names.health.clone(),
            Some("ready") => names.ready.clone(),
            Some("metrics") => names.metrics.clone(),
            Some("config") => names.config.clone(),
            _ => names.other.clone(),
        }
    }

    /// The configuration the process started with is in force.
    pub fn config_started(&self) {
        self.0.config_last_reload_successful.set(1);
        self.0.config_last_reload_success_timestamp.set(unix_now());
    }

    pub fn config_reloaded(&self) {
        self.config_started();
        self.0.config_reloads.with_label_values(&["success"]).inc();
    }

    pub fn config_reload_failed(&self) {
        self.0.config_last_reload_successful.set(0);
        self.0.config_reloads.with_label_values(&["failure"]).inc();
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
