//! Observing each request: in-flight count, the request histogram labelled by route, upstream
//! byte counts and the access log line, all recorded when the response body is done (so a
//! streamed response is timed to its last byte) or dropped (client gone).

use super::GatewayMetrics;
use crate::auth::TenantId;
use crate::proxy::Component;
use crate::server::snapshot;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use bytes::Bytes;
use pin_project_lite::pin_project;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// What the forward handler tells the observer about a proxied request, via the request's
/// extensions: its route and component, and how its upstream exchange went.
#[derive(Clone)]
pub struct Exchange {
    pub route: Arc<str>,
    pub component: Component,
    progress: Rc<Progress>,
}

#[derive(Default)]
struct Progress {
    /// Request body bytes sent upstream so far.
    sent: Cell<u64>,
    /// Set once the upstream's response is being relayed.
    relayed: Cell<bool>,
}

impl Exchange {
    pub fn new(route: Arc<str>, component: Component) -> Self {
        Self {
            route,
            component,
            progress: Rc::default(),
        }
    }

    /// Counts `bytes` more sent upstream; returns the total so far.
    pub fn add_sent(&self, bytes: u64) -> u64 {
        let total = self.progress.sent.get() + bytes;
        self.progress.sent.set(total);
        total
    }

    pub fn mark_relayed(&self) {
        self.progress.relayed.set(true);
    }

    fn sent(&self) -> u64 {
        self.progress.sent.get()
    }

    fn relayed(&self) -> bool {
        self.progress.relayed.get()
    }
}

/// The middleware (`actix_web::middleware::from_fn(observe)`).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(metrics) = req.app_data::<GatewayMetrics>().cloned() else {
        return next
            .call(req)
            .await
            .map(|res| res.map_body(|_, body| ObservedBody::unobserved(body)));
    };
    let started = Instant::now();
    metrics.request_started();
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            metrics.request_finished("other", "other", "500", started.elapsed());
            return Err(err);
        }
    };
    let observation = Observation::of(res.request(), res.status(), started, metrics);
    Ok(res.map_body(move |_, body| ObservedBody {
        body,
        bytes: 0,
        broken: false,
        observation: Some(observation),
    }))
}

/// Everything recorded when a response is done.
struct Observation {
    metrics: GatewayMetrics,
    started: Instant,
    method: Method,
    route: Arc<str>,
    status: StatusCode,
    tenant: Option<TenantId>,
    exchange: Option<Exchange>,
    access_log: bool,
}

impl Observation {
    fn of(
        req: &HttpRequest,
        status: StatusCode,
        started: Instant,
        metrics: GatewayMetrics,
    ) -> Self {
        let (exchange, tenant) = {
            let extensions = req.extensions();
            (
                extensions.get::<Exchange>().cloned(),
                extensions.get::<TenantId>().cloned(),
            )
        };
        let config = snapshot(req);
        let route = match (&exchange, req.match_name()) {
            (Some(exchange), _) => exchange.route.clone(),
            (None, Some(name)) => metrics.own_route(Some(name)),
            // Refused before the handler ran (a 401): label it with the route it was for.
            (None, None) => config
                .routes
                .find(req.path())
                .map(|matched| matched.route.name.clone())
                .unwrap_or_else(|| metrics.own_route(None)),
        };
        Self {
            access_log: config.settings.log.access_log,
            metrics,
            started,
            method: req.method().clone(),
            route,
            status,
            tenant,
            exchange,
        }
    }

    fn finish(self, bytes_out: u64, broken: bool) {
        let elapsed = self.started.elapsed();
        self.metrics.request_finished(
            self.method.as_str(),
            &self.route,
            self.status.as_str(),
            elapsed,
        );
        let mut bytes_in = 0;
        if let Some(exchange) = &self.exchange {
            bytes_in = exchange.sent();
            let received = if exchange.relayed() { bytes_out } else { 0 };
            self.metrics
                .upstream_bytes(exchange.component, bytes_in, received);
            // The upstream broke off a response it had started.
            if broken && exchange.relayed() {
                self.metrics.upstream_failed(exchange.component, "reset");
            }
        }
        if self.access_log {
            tracing::info!(
                target: "access",
                tenant = self.tenant.as_ref().map_or("-", TenantId::as_str),
                method = self.method.as_str(),
                route = &*self.route,
                status = self.status.as_u16(),
                duration = ?elapsed,
                upstream = self.exchange.as_ref().map_or("-", |e| e.component.as_str()),
                bytes_in,
                bytes_out,
                "request"
            );
        }
    }
}

pin_project! {
    /// The response body, passed through byte for byte and counted.
    pub struct ObservedBody<B> {
        #[pin]
        body: B,
        bytes: u64,
        broken: bool, // the body failed part way: the upstream broke off
        observation: Option<Observation>,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(observation) = this.observation.take() {
                observation.finish(*this.bytes, *this.broken);
            }
        }
    }
}

impl<B> ObservedBody<B> {
    fn unobserved(body: B) -> Self {
        Self {
            body,
            bytes: 0,
            broken: false,
            observation: None,
        }
    }
}

impl<B: MessageBody> MessageBody for ObservedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => *this.bytes += chunk.len() as u64,
            Poll::Ready(Some(Err(_))) => *this.broken = true,
            _ => {}
        }
        polled
    }
}
