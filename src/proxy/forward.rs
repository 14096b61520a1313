//! The streaming forward handler, in four named phases:
//! `select_upstream → build_upstream_request → send → relay_response`.
//! Nothing here collects a body: bytes flow client → upstream and upstream → client as they come.

use super::body::{BodyError, LimitedBody, ResponseBody};
use super::headers::{copy_response_headers, upstream_request_headers, ClientConnection};
use super::path::has_dot_segment;
use super::{Route, Upstream};
use crate::auth::TenantId;
use crate::config::Config;
use crate::error::GatewayError;
use crate::metrics::{Exchange, GatewayMetrics};
use crate::server::snapshot;
use crate::telemetry;
use actix_web::body::SizedStream;
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use awc::error::{ConnectError, SendRequestError};
use awc::{ClientRequest, ClientResponse};
use bytes::Bytes;
use futures_util::Stream;
use std::time::Instant;
use tracing::{Instrument, Span};

/// Where one request goes: its route, the component's upstream and the full upstream URL.
struct Target<'a> {
    route: &'a Route,
    upstream: &'a Upstream,
    url: String,
}

/// Forwards an authenticated tenant request to its component. Registered as the default service,
/// so every path but the gateway's own endpoints passes the [`TenantId`] guard first.
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    tenant: TenantId,
    client: web::Data<awc::Client>,
) -> Result<HttpResponse, GatewayError> {
    let config = snapshot(&req);
    let target = select_upstream(&config, &req)?;
    let component = target.upstream.component;
    let exchange = Exchange::new(target.route.name.clone(), component);
    req.extensions_mut().insert(exchange.clone());
    Span::current()
        .record("route", &*target.route.name)
        .record("component", component.as_str());

    let limit = config.max_request_body;
    let framing = request_body_framing(req.headers(), limit)?;
    // Built only for export: with tracing off a span would still cost the log layer a record.
    let span = if telemetry::tracing_enabled() {
        tracing::info_span!(
            "upstream",
            otel.kind = "client",
            component = component.as_str(),
            http.request.method = req.method().as_str(),
            http.response.status_code = tracing::field::Empty,
        )
    } else {
        Span::none()
    };
    let upstream = target.upstream;
    let route = target.route.name.clone();
    let request = build_upstream_request(&client, &req, &tenant, target, &span);
    let metrics = req.app_data::<GatewayMetrics>();
    if let Some(metrics) = metrics {
        metrics.proxied(component);
    }
    let started = Instant::now();
    let sent = send(request, payload, framing, limit, exchange.clone())
        .instrument(span.clone())
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if let Some(metrics) = metrics {
                metrics.upstream_answered(component, status.as_str(), started.elapsed());
            }
            exchange.mark_relayed();
            Ok(relay_response(response))
        }
        Err(err) => {
            let (error, kind) = classify_send_error(err, upstream);
            if let (Some(metrics), Some(kind)) = (metrics, kind) {
                metrics.upstream_failed(component, kind);
            }
            tracing::warn!(parent: &span, route = &*route, "{error}");
            Err(error)
        }
    }
}

fn select_upstream<'a>(
    config: &'a Config,
    req: &'a HttpRequest,
) -> Result<Target<'a>, GatewayError> {
    // actix reads the body of a request asking for an upgrade until the connection closes,
    // whatever its Content-Length says; the gateway proxies no WebSockets, so say so at once.
    if req.headers().contains_key(UPGRADE) {
        return Err(GatewayError::BadRequest(
            "connection upgrades (WebSocket) are not supported",
        ));
    }
    let path = req.uri().path();
    if has_dot_segment(path) {
        return Err(GatewayError::BadRequest(
            "path must not contain '.' or '..' segments",
        ));
    }
    let matched = config.routes.find(path).ok_or(GatewayError::NoRoute)?;
    let route = matched.route;
    if !route.allows(req.method()) {
        return Err(GatewayError::MethodNotAllowed {
            route: route.name.clone(),
            allow: route.allow.clone(),
        });
    }
    let upstream = config.upstreams.get(route.component).ok_or_else(|| {
        GatewayError::ComponentNotConfigured {
            route: route.name.clone(),
            component: route.component,
        }
    })?;
    let upstream_path = matched.upstream_path(path);
    let query = req.uri().query();
    let mut url = String::with_capacity(
        upstream.base.len() + upstream_path.len() + query.map_or(0, |q| q.len() + 1),
    );
    url.push_str(&upstream.base);
    url.push_str(&upstream_path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(Target {
        route,
        upstream,
        url,
    })
}

/// How the client framed its body, which decides how it is framed upstream.
enum BodyFraming {
    None,
    Sized(u64),
    Chunked,
}

fn request_body_framing(headers: &HeaderMap, limit: u64) -> Result<BodyFraming, GatewayError> {
    if let Some(value) = headers.get(CONTENT_LENGTH) {
        let length: u64 = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or(GatewayError::BadRequest("Content-Length is not a number"))?;
        if length > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        return Ok(if length == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Sized(length)
        });
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        return Ok(BodyFraming::Chunked);
    }
    Ok(BodyFraming::None)
}

fn build_upstream_request(
    client: &awc::Client,
    req: &HttpRequest,
    tenant: &TenantId,
    target: Target<'_>,
    span: &Span,
) -> ClientRequest {
    let connection = ClientConnection {
        peer_ip: req.peer_addr().map(|addr| addr.ip().to_string()),
        scheme: if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
        host: req.headers().get(HOST).cloned(),
    };
    let mut request = client
        // The String moves into the Uri without a copy.
        .request(req.method().clone(), target.url)
        .timeout(target.upstream.timeout)
        .no_decompress();
    let headers = request.headers_mut();
    *headers = upstream_request_headers(req.headers(), tenant, &connection);
    if telemetry::tracing_enabled() {
        telemetry::inject_trace_context(span, headers);
    }
    request
}

async fn send(
    request: ClientRequest,
    payload: web::Payload,
    framing: BodyFraming,
    limit: u64,
    exchange: Exchange,
) -> Result<ClientResponse<impl Stream<Item = Result<Bytes, PayloadError>> + Unpin>, SendRequestError>
{
    let body = LimitedBody::new(payload.into_inner(), limit, exchange);
    match framing {
        BodyFraming::None => request.send().await,
        // Keep the client's Content-Length: some receivers want it, and it costs nothing.
        BodyFraming::Sized(length) => request.send_body(SizedStream::new(length, body)).await,
        BodyFraming::Chunked => request.send_stream(body).await,
    }
}

/// The client-facing error for a failed upstream call, and the upstream error kind to count
/// (`None` when the client's body, not the upstream, failed).
fn classify_send_error(
    err: SendRequestError,
    upstream: &Upstream,
) -> (GatewayError, Option<&'static str>) {
    let component = upstream.component;
    match err {
        SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => (
            GatewayError::UpstreamTimeout {
                component,
                timeout: upstream.timeout,
            },
            Some("timeout"),
        ),
        SendRequestError::Body(err) => match err.downcast_ref::<BodyError>() {
            Some(BodyError::TooLarge { limit }) => {
                (GatewayError::PayloadTooLarge { limit: *limit }, None)
            }
            Some(BodyError::Client(_)) => (
                GatewayError::BadRequest("request body ended before it was complete"),
                None,
            ),
            None => (
                GatewayError::UpstreamUnavailable {
                    component,
                    reason: format!("sending the request body failed: {err}"),
                },
                Some("reset"),
            ),
        },
        SendRequestError::Connect(err) => (
            GatewayError::UpstreamUnavailable {
                component,
                reason: err.to_string(),
            },
            Some("connect"),
        ),
        other => (
            GatewayError::UpstreamUnavailable {
                component,
                reason: other.to_string(),
            },
            Some("reset"),
        ),
    }
}

fn relay_response<S>(upstream: ClientResponse<S>) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    let status = upstream.status();
    let mut response = HttpResponse::build(status);
    copy_response_headers(upstream.headers(), |name, value| {
        response.append_header((name.clone(), value.clone()));
    });
    // A bodiless status streamed as if it had a body breaks keep-alive for the client.
    if status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        return response.finish();
    }
    let length = upstream
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length {
        response.no_chunking(length);
    }
    response.streaming(ResponseBody::new(upstream, length))
}
