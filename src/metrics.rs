//! The gateway's Prometheus metrics: one registry, served on `/metrics` by actix-web-prom, holding
//! the original gateway's counters next to the HTTP metrics.

use crate::auth::{AuthError, TenantId};
use crate::proxy::Component;
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{IntCounterVec, Opts, Registry};
use std::sync::Arc;

#[derive(Clone)]
pub struct GatewayMetrics(Arc<Inner>);

struct Inner {
    registry: Registry,
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
        // Exist from the first scrape, so rate() and alerts see a zero rather than nothing.
        for reason in AuthError::REASONS {
            failed_authentications.with_label_values(&[reason]);
        }
        for component in Component::ALL {
            proxy_requests.with_label_values(&[component.as_str()]);
        }
        Self(Arc::new(Inner {
            registry,
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
