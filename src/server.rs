//! The actix server: shared state built once and cloned into each worker, a pooled upstream
//! client built per worker, the open endpoints (`/health`, `/metrics`), everything else guarded
//! and forwarded, and graceful shutdown on SIGTERM/SIGINT.

use crate::config::{Config, ConfigSlot};
use crate::metrics::GatewayMetrics;
use crate::proxy::{build_client, forward};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// A bound, not yet awaited, gateway.
pub struct Gateway {
    pub addr: SocketAddr,
    pub server: Server,
    pub slot: ConfigSlot,
    pub metrics: GatewayMetrics,
}

impl Gateway {
    /// Binds the configured address and builds the server.
    pub fn bind(config: Config) -> std::io::Result<Self> {
        let server_settings = config.settings.server.clone();
        let listener = TcpListener::bind((
            server_settings.http_listen_address.as_str(),
            server_settings.http_listen_port,
        ))?;
        let addr = listener.local_addr()?;
        let upstream_settings = config.settings.upstreams.clone();
        let slot = ConfigSlot::new(config);
        let metrics = GatewayMetrics::new();
        let prometheus = metrics.middleware();
        let workers = match server_settings.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };

        let (app_slot, app_metrics) = (slot.clone(), metrics.clone());
        let server = HttpServer::new(move || {
            // awc's client holds an Rc: one per worker, never shared across threads.
            let client = build_client(&upstream_settings);
            App::new()
                .app_data(app_slot.clone())
                .app_data(app_metrics.clone())
                .app_data(web::Data::new(client))
                .wrap(prometheus.clone())
                .route("/health", web::get().to(health))
                // actix-web-prom fills the body; this keeps /metrics away from the guard.
                .route("/metrics", web::get().to(HttpResponse::Ok))
                .default_service(web::to(forward))
        })
        .workers(workers)
        .keep_alive(server_settings.keep_alive)
        .shutdown_timeout(server_settings.shutdown_timeout.as_secs())
        .disable_signals()
        .listen(listener)?
        .run();

        Ok(Self {
            addr,
            server,
            slot,
            metrics,
        })
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }
}

/// Stops `handle` gracefully on the first SIGTERM or SIGINT: no new connections, in-flight
/// requests get the shutdown timeout to finish. The handlers are registered before this returns,
/// so a signal sent right after start-up is never lost to the default action.
pub fn stop_on_signals(handle: ServerHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "draining in-flight requests, then stopping");
        handle.stop(true).await;
    });
    Ok(())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Ok")
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
