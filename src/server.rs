//! The actix server: shared state built once and cloned into each worker, a pooled upstream
//! client built per worker, the gateway's own endpoints (`/health`, `/ready`, `/metrics`,
//! `/config`, optionally on a separate admin listener), everything else guarded and forwarded,
//! and graceful shutdown on SIGTERM/SIGINT.

use crate::config::{Config, ConfigSlot, ReloadTrigger, ServerSettings};
use crate::metrics::{observe, GatewayMetrics};
use crate::proxy::{build_client, forward};
use crate::telemetry::{self, GatewayRootSpan};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracing_actix_web::TracingLogger;

/// Whether the gateway still takes new work: false once a shutdown has begun, so `/ready` tells
/// load balancers to go elsewhere while in-flight requests drain.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn start_draining(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A bound, not yet running, gateway: the tenant-facing server and the optional admin server.
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub server: Server,
    pub admin_server: Option<Server>,
    pub slot: ConfigSlot,
    pub metrics: GatewayMetrics,
    pub readiness: Readiness,
}

impl Gateway {
    /// Binds the configured listeners and builds the servers.
    pub fn bind(config: Config) -> std::io::Result<Self> {
        let settings = config.settings.server.clone();
        let upstream_settings = config.settings.upstreams.clone();
        let slot = ConfigSlot::new(config);
        let metrics = GatewayMetrics::new();
        // Serving at all means the configuration loaded.
        metrics.config_started();
        let readiness = Readiness::default();
        let exporter = metrics.exporter();
        let admin = match settings.admin_http_listen_port {
            Some(port) => Some(TcpListener::bind((
                settings.admin_http_listen_address.as_str(),
                port,
            ))?),
            None => None,
        };
        let own_endpoints_here = admin.is_none();
        let tracing_on = telemetry::tracing_enabled();

        let listener = TcpListener::bind((
            settings.http_listen_address.as_str(),
            settings.http_listen_port,
        ))?;
        let addr = listener.local_addr()?;
        let (app_slot, app_metrics, app_readiness, app_exporter) = (
            slot.clone(),
            metrics.clone(),
            readiness.clone(),
            exporter.clone(),
        );
        let server = HttpServer::new(move || {
            // awc's client holds an Rc: one per worker, never shared across threads.
            let client = build_client(&upstream_settings);
            App::new()
                .app_data(app_slot.clone())
                .app_data(app_metrics.clone())
                .app_data(app_readiness.clone())
                .app_data(web::Data::new(client))
                .wrap(from_fn(observe))
                .wrap(Condition::new(
                    tracing_on,
                    TracingLogger::<GatewayRootSpan>::new(),
                ))
                .wrap(Condition::new(own_endpoints_here, app_exporter.clone()))
                .service(web::resource("/health").name("health").get(health))
                .service(web::resource("/ready").name("ready").get(ready))
                .configure(|app| {
                    if own_endpoints_here {
                        own_endpoints(app);
                    }
                })
                .default_service(web::to(forward))
        })
        .workers(worker_count(&settings))
        .keep_alive(settings.keep_alive)
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .disable_signals()
        .listen(listener)?
        .run();

        let (admin_addr, admin_server) = match admin {
            None => (None, None),
            Some(listener) => {
                let admin_addr = listener.local_addr()?;
                let (app_slot, app_readiness) = (slot.clone(), readiness.clone());
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(app_slot.clone())
                        .app_data(app_readiness.clone())
                        .wrap(exporter.clone())
                        .service(web::resource("/health").name("health").get(health))
                        .service(web::resource("/ready").name("ready").get(ready))
                        .configure(own_endpoints)
                })
                .workers(1)
                .shutdown_timeout(settings.shutdown_timeout.as_secs())
                .disable_signals()
                .listen(listener)?
                .run();
                (Some(admin_addr), Some(server))
            }
        };

        Ok(Self {
            addr,
            admin_addr,
            server,
            admin_server,
            slot,
            metrics,
            readiness,
        })
    }

    /// Handles to stop both servers.
    pub fn handles(&self) -> Vec<ServerHandle> {
        std::iter::once(self.server.handle())
            .chain(self.admin_server.as_ref().map(Server::handle))
            .collect()
    }

    /// Runs until both servers have stopped.
    pub async fn serve(self) -> std::io::Result<()> {
        match self.admin_server {
            None => self.server.await,
            Some(admin) => {
                let (main, admin) = futures_util::future::join(self.server, admin).await;
                main.and(admin)
            }
        }
    }
}

fn worker_count(settings: &ServerSettings) -> usize {
    match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// `/metrics` (filled in by the actix-web-prom exporter wrapping the app) and `/config`.
fn own_endpoints(app: &mut web::ServiceConfig) {
    app.service(
        web::resource("/metrics")
            .name("metrics")
            .get(HttpResponse::Ok),
    )
    .service(
        web::resource("/config")
            .name("config")
            .get(effective_config),
    );
}

/// Handles the process signals: the first SIGTERM or SIGINT marks the gateway not ready and stops
/// the servers gracefully (no new connections, in-flight requests get the shutdown timeout to
/// finish); SIGHUP reloads the configuration. The handlers are registered before this returns,
/// so a signal sent right after start-up is never lost to its default action.
pub fn handle_signals(
    handles: Vec<ServerHandle>,
    readiness: Readiness,
    reload: Option<ReloadTrigger>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    actix_web::rt::spawn(async move {
        let name = loop {
            tokio::select! {
                _ = term.recv() => break "SIGTERM",
                _ = int.recv() => break "SIGINT",
                _ = hup.recv() => match &reload {
                    Some(trigger) => trigger.reload(),
                    None => tracing::warn!("SIGHUP ignored: no configuration file to reload"),
                },
            }
        };
        readiness.start_draining();
        tracing::info!(signal = name, "draining in-flight requests, then stopping");
        futures_util::future::join_all(handles.iter().map(|handle| handle.stop(true))).await;
    });
    Ok(())
}

/// `GET /config`: the effective settings, every secret redacted; TOML, or JSON with
/// `?format=json`.
async fn effective_config(req: HttpRequest) -> HttpResponse {
    let config = snapshot(&req);
    let json = req
        .query_string()
        .split('&')
        .any(|pair| pair == "format=json");
    let rendered = if json {
        serde_json::to_string_pretty(&config.settings)
            .map(|body| ("application/json", body))
            .map_err(|err| err.to_string())
    } else {
        toml::to_string(&config.settings)
            .map(|body| ("text/plain; charset=utf-8", body))
            .map_err(|err| err.to_string())
    };
    match rendered {
        Ok((content_type, body)) => HttpResponse::Ok().content_type(content_type).body(body),
        Err(err) => HttpResponse::InternalServerError()
            .body(format!("cannot render the configuration: {err}\n")),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Ok")
}

async fn ready(req: HttpRequest) -> HttpResponse {
    let draining = req
        .app_data::<Readiness>()
        .is_some_and(Readiness::is_draining);
    if draining {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("shutting down\n")
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready\n")
    }
}

/// The configuration snapshot this request works with: loaded once, on first use, and kept in the
/// request's extensions so the guard and the handler agree even across a reload.
pub fn snapshot(req: &HttpRequest) -> Arc<Config> {
    if let Some(config) = req.extensions().get::<Arc<Config>>() {
        return config.clone();
    }
    let config = req
        .app_data::<ConfigSlot>()
        .expect("the server registers the ConfigSlot on every App")
        .load();
    req.extensions_mut().insert(config.clone());
    config
}
