//! The gateway's Prometheus metrics: one registry, served on `/metrics` by actix-web-prom, holding
//! the original gateway's counters next to the HTTP metrics.

use crate::auth::{AuthError, TenantId};
use crate::proxy::Component;
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{Gauge, IntCounterVec, IntGauge, Opts, Registry};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone)]
pub struct GatewayMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    config_last_reload_successful: IntGauge,
    config_last_reload_success_timestamp: Gauge,
    config_reloads: IntCounterVec,
    failed_authentications: IntCounterVec,
    succeeded_authentications: IntCounterVec,
    proxy_requests: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|err| panic!("metric {name} is malformed: {err}"));
    registry
        .register(Box::new(counter.clone()))
        .unwrap_or_else(|err| panic!("metric {name} registered twice: {err}"));
    counter
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let failed_authentications = counter(
            &registry,
            "cortex_gateway_failed_authentications_total",
            "Requests refused because their bearer token was missing or invalid, by reason.",
            &["reason"],
        );
        let succeeded_authentications = counter(
            &registry,
            "cortex_gateway_succeeded_authentications_total",
            "Requests whose bearer token was valid, by tenant.",
            &["tenant"],
        );
        let proxy_requests = counter(
            &registry,
            "cortex_gateway_proxy_requests_total",
            "Requests forwarded to an upstream component.",
            &["targetname"],
        );
        let config_last_reload_successful = IntGauge::new(
            "cortex_gateway_config_last_reload_successful",
            "Whether the last configuration reload succeeded (1) or kept the old configuration (0).",
        )
        .expect("valid gauge");
        let config_last_reload_success_timestamp = Gauge::new(
            "cortex_gateway_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
        )
        .expect("valid gauge");
        for gauge in [
            Box::new(config_last_reload_successful.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(config_last_reload_success_timestamp.clone()),
        ] {
            registry
                .register(gauge)
                .expect("config gauges registered once");
        }
        let config_reloads = counter(
            &registry,
            "cortex_gateway_config_reloads_total",
            "Configuration reloads attempted, by result (success, failure).",
            &["result"],
        );
        config_reloads.with_label_values(&["success"]);
        config_reloads.with_label_values(&["failure"]);
        // Exist from the first scrape, so rate() and alerts see a zero rather than nothing.
        for reason in AuthError::REASONS {
            failed_authentications.with_label_values(&[reason]);
        }
        for component in Component::ALL {
            proxy_requests.with_label_values(&[component.as_str()]);
        }
        Self(Arc::new(Inner {
            registry,
            config_last_reload_successful,
            config_last_reload_success_timestamp,
            config_reloads,
            failed_authentications,
            succeeded_authentications,
            proxy_requests,
        }))
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// The actix-web-prom middleware that answers `GET /metrics` from this registry.
    pub fn middleware(&self) -> PrometheusMetrics {
        PrometheusMetricsBuilder::new("cortex_gateway")
            .registry(self.0.registry.clone())
            .endpoint("/metrics")
            .mask_unmatched_patterns("other")
            .build()
            .unwrap_or_else(|err| panic!("actix-web-prom refused the registry: {err}"))
    }

    pub fn auth_succeeded(&self, tenant: &TenantId) {
        self.0
            .succeeded_authentications
            .with_label_values(&[tenant.as_str()])
            .inc();
    }

    pub fn auth_failed(&self, err: &AuthError) {
        self.0
            .failed_authentications
            .with_label_values(&[err.reason()])
            .inc();
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

    pub fn proxied(&self, component: Component) {
        self.0
            .proxy_requests
            .with_label_values(&[component.as_str()])
            .inc();
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
