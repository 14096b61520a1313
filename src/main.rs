//! The `cortex-gateway` binary: parse flags, load and check the config, serve, reload.

use cortex_gateway::cli::{Cli, Command};
use cortex_gateway::config::{Config, ConfigSource, ConfigWatcher, Reloader};
use cortex_gateway::server::{handle_signals, Gateway};
use cortex_gateway::telemetry;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse_go_style(std::env::args_os());
    match &cli.command {
        Some(Command::CheckConfig { path }) => {
            let mut source = cli.config_source();
            if path.is_some() {
                source.file = path.clone();
            }
            check(&source)
        }
        None | Some(Command::Run) if cli.config_check => check(&cli.config_source()),
        None | Some(Command::Run) => run(&cli),
    }
}

/// `check-config`: every problem on its own line with its key, exit 1 if there is any.
fn check(source: &ConfigSource) -> ExitCode {
    let file = source
        .file
        .as_ref()
        .map_or("(no file)".into(), |f| f.display().to_string());
    match Config::load(source) {
        Ok(config) => {
            println!(
                "{file}: OK ({} signing keys, {} routes)",
                config.keys.len(),
                config.routes.routes().len()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{file}: {} problem(s)", err.problems.len());
            for problem in &err.problems {
                eprintln!("  {}: {}", problem.key, problem.message);
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> ExitCode {
    let source = cli.config_source();
    let config = match Config::load(&source) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("cortex-gateway: refusing to start, the configuration has problems:\n{err}");
            return ExitCode::from(2);
        }
    };
    let telemetry = telemetry::init(&config.settings);
    let served = actix_web::rt::System::new().block_on(async move {
        let gateway = Gateway::bind(config)?;
        // Without a file there is nothing to watch; flags and environment are fixed for the process.
        let watcher = match &source.file {
            Some(_) => {
                let reloader = Reloader::new(
                    source.clone(),
                    gateway.slot.clone(),
                    gateway.metrics.clone(),
                );
                Some(ConfigWatcher::start(Arc::new(reloader)).map_err(std::io::Error::other)?)
            }
            None => None,
        };
        let reload = watcher.as_ref().map(ConfigWatcher::trigger);
        handle_signals(gateway.handles(), gateway.readiness.clone(), reload)?;
        if let Some(admin) = gateway.admin_addr {
            tracing::info!(address = %admin, "admin endpoints listening");
        }
        tracing::info!(address = %gateway.addr, "cortex-gateway listening");
        let result = gateway.serve().await;
        drop(watcher);
        result
    });
    // Flushes buffered spans before the process exits.
    drop(telemetry);
    match served {
        Ok(()) => {
            tracing::info!("cortex-gateway stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cortex-gateway: {err}");
            ExitCode::FAILURE
        }
    }
}
