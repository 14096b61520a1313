//! The actix server: shared state built once and cloned into each worker, a pooled upstream
//! client built per worker, the open endpoints (`/health`, `/metrics`, `/config`), everything else guarded
//! and forwarded, and graceful shutdown on SIGTERM/SIGINT.

use crate::config::{Config, ConfigSlot, ReloadTrigger};
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
                .route("/config", web::get().to(effective_config))
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

/// Handles the process signals: the first SIGTERM or SIGINT stops `handle` gracefully (no new
/// connections, in-flight requests get the shutdown timeout to finish); SIGHUP reloads the
/// configuration. The handlers are registered before this returns, so a signal sent right after
/// start-up is never lost to its default action.
pub fn handle_signals(handle: ServerHandle, reload: Option<ReloadTrigger>) -> std::io::Result<()> {
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
        tracing::info!(signal = name, "draining in-flight requests, then stopping");
        handle.stop(true).await;
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
