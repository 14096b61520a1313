//! The `cortex-gateway` binary: parse flags, load and check the config, serve.

use cortex_gateway::cli::{Cli, Command};
use cortex_gateway::config::Config;
use cortex_gateway::server::{stop_on_signals, Gateway};
use cortex_gateway::telemetry;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse_go_style(std::env::args_os());
    match cli.command {
        None | Some(Command::Run) => run(&cli),
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
    telemetry::init_logging(&config.settings.log);
    let served = actix_web::rt::System::new().block_on(async move {
        let gateway = Gateway::bind(config)?;
        stop_on_signals(gateway.handle())?;
        tracing::info!(address = %gateway.addr, "cortex-gateway listening");
        gateway.server.await
    });
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
