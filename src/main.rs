//! The `cortex-gateway` binary: parse flags, load and check the config, serve, reload.

use cortex_gateway::cli::{Cli, Command, TokenAction, TokenArgs};
use cortex_gateway::config::{Config, ConfigSource, ConfigWatcher, Reloader};
use cortex_gateway::server::{handle_signals, Gateway};
use cortex_gateway::telemetry;
use cortex_gateway::token::{self, MintRequest};
use jsonwebtoken::Algorithm;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
        Some(Command::Token(args)) => token(&cli.config_source(), args),
        Some(Command::Probe { url }) => match token::probe(url, Duration::from_secs(3)) {
            Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
            Ok(status) => {
                eprintln!("{url}: HTTP {status}");
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("{url}: {err}");
                ExitCode::FAILURE
            }
        },
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

/// `token`: mint one (stdout) or `token inspect` one; both against the loaded configuration.
fn token(source: &ConfigSource, args: &TokenArgs) -> ExitCode {
    let config = match Config::load(source) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("cortex-gateway token: the configuration has problems:\n{err}");
            return ExitCode::from(2);
        }
    };
    if let Some(TokenAction::Inspect { token }) = &args.action {
        let token = match token.as_deref() {
            Some(token) if token != "-" => token.to_owned(),
            _ => {
                let mut input = String::new();
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut input);
                input
            }
        };
        let (report, accepted) = token::inspect(&config, token.trim());
        print!("{report}");
        return if accepted {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let Some(tenant) = &args.tenant else {
        eprintln!("cortex-gateway token: --tenant is required");
        return ExitCode::from(2);
    };
    let ttl = match args.ttl.as_str() {
        "never" | "0" => None,
        text => match humantime::parse_duration(text) {
            Ok(ttl) => Some(ttl),
            Err(err) => {
                eprintln!("cortex-gateway token: --ttl {text:?}: {err}");
                return ExitCode::from(2);
            }
        },
    };
    let algorithm = match args.algorithm.to_ascii_uppercase().as_str() {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => {
            eprintln!("cortex-gateway token: --algorithm {other:?} is not HS256, HS384 or HS512");
            return ExitCode::from(2);
        }
    };
    let request = MintRequest {
        tenant,
        ttl,
        kid: args.kid.as_deref(),
        audience: args.audience.as_deref(),
        algorithm,
    };
    match token::mint(&config, &request) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cortex-gateway token: {err}");
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
