//! Telemetry: the tracing subscriber (logfmt or JSON logs with a live-reloadable level) and, when
//! an OTLP endpoint is configured, OpenTelemetry export with W3C `traceparent` and Jaeger
//! `uber-trace-id` propagation in both directions.

use crate::config::{LogFormat, Settings, TracingSettings};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Injector, TextMapCompositePropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type FilterHandle = reload::Handle<EnvFilter, Registry>;

static LOG_FILTER: OnceLock<FilterHandle> = OnceLock::new();
static TRACING_ENABLED: AtomicBool = AtomicBool::new(false);

/// Headers that carry trace context; the gateway's own replace the client's when tracing is on.
pub const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "uber-trace-id"];

/// Keeps the exporter alive; flushes buffered spans when dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber (once per process) and, if configured, the OTLP exporter.
pub fn init(settings: &Settings) -> Telemetry {
    let (filter, handle) = reload::Layer::new(log_filter(&settings.log.level));
    let log_layer = match settings.log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Logfmt => tracing_logfmt::builder()
            .with_span_name(false)
            .with_span_path(false)
            .layer()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);

    let provider = otlp_endpoint(&settings.tracing).and_then(|endpoint| {
        match tracer_provider(&settings.tracing, &endpoint) {
            Ok(provider) => Some((provider, endpoint)),
            Err(err) => {
                eprintln!(
                    "cortex-gateway: tracing disabled, the OTLP exporter could not be built: {err}"
                );
                None
            }
        }
    });
    let otel_layer = provider.as_ref().map(|(provider, _)| {
        // Our spans only, whatever the log level: a quiet log must not mean missing traces.
        let spans = Targets::new()
            .with_target("cortex_gateway", LevelFilter::INFO)
            .with_target("tracing_actix_web", LevelFilter::INFO);
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("cortex-gateway"))
            .with_filter(spans)
    });
    if tracing_subscriber::registry()
        .with(log_layer)
        .with(otel_layer)
        .try_init()
        .is_ok()
    {
        let _ = LOG_FILTER.set(handle);
    }
    if let Some((provider, endpoint)) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        // Jaeger's format is deprecated upstream, but Cortex components instrumented with Jaeger
        // clients still read and write `uber-trace-id`; without it their traces would not join.
        #[allow(deprecated)]
        let jaeger = opentelemetry_jaeger_propagator::Propagator::new();
        opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(jaeger),
        ]));
        TRACING_ENABLED.store(true, Ordering::Relaxed);
        tracing::info!(
            endpoint,
            ratio = settings.tracing.sampling_ratio,
            "exporting traces over OTLP/HTTP"
        );
    } else if std::env::var_os("JAEGER_AGENT_HOST").is_some()
        || std::env::var_os("JAEGER_ENDPOINT").is_some()
    {
        tracing::warn!(
            "JAEGER_AGENT_HOST/JAEGER_ENDPOINT are not used; Jaeger ingests OTLP: set \
             OTEL_EXPORTER_OTLP_ENDPOINT=http://<jaeger>:4318 or tracing.otlp_endpoint"
        );
    }
    Telemetry {
        provider: provider.map(|(provider, _)| provider),
    }
}

fn log_filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Applies a (validated) log level to the running subscriber.
pub fn set_log_level(level: &str) {
    if let Some(handle) = LOG_FILTER.get() {
        let _ = handle.reload(log_filter(level));
    }
}

/// Whether spans are exported and trace context propagated.
pub fn tracing_enabled() -> bool {
    TRACING_ENABLED.load(Ordering::Relaxed)
}

/// The traces endpoint: the config key, else the standard OTLP environment variables.
fn otlp_endpoint(settings: &TracingSettings) -> Option<String> {
    let configured = settings.otlp_endpoint.trim();
    if !configured.is_empty() {
        let base = configured.trim_end_matches('/');
        return Some(if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        });
    }
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Some(endpoint);
    }
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
}

fn tracer_provider(
    settings: &TracingSettings,
    endpoint: &str,
) -> Result<SdkTracerProvider, String> {
    let protocol = match settings.protocol.as_str() {
        "http/json" => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(endpoint)
        .build()
        .map_err(|err| err.to_string())?;
    let service_name = if settings.service_name.is_empty() {
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "cortex-gateway".into())
    } else {
        settings.service_name.clone()
    };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sampling_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build())
}

/// Writes the context of `span` into `headers` in every configured format (W3C and Jaeger),
/// replacing whatever trace headers the client sent.
pub fn inject_trace_context(span: &tracing::Span, headers: &mut HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    for name in TRACE_HEADERS {
        headers.remove(name);
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The root span of each request: tracing-actix-web's (HTTP method, route, status, trace id,
/// parent context from `traceparent` or `uber-trace-id`) plus the gateway's own fields, which the
/// guard and the forward handler fill in.
pub struct GatewayRootSpan;

impl tracing_actix_web::RootSpanBuilder for GatewayRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::root_span!(
            request,
            route = tracing::field::Empty,
            tenant = tracing::field::Empty,
            component = tracing::field::Empty
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
