//! Command line: the original gateway's Go-style flags (`-gateway.auth.jwt-secret=…`, one or two
//! dashes) layered over the config file, and the subcommands.

use crate::config::ConfigSource;
use clap::{Parser, Subcommand};
use figment::value::Value;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cortex-gateway",
    version,
    about = "Authenticating gateway for multi-tenant Cortex and Grafana Mimir",
    long_about = "Verifies each request's bearer JWT, sets X-Scope-OrgID from its tenant_id claim and \
                  streams the request to the right Cortex/Mimir component.\n\n\
                  Flags take one or two dashes, as the original Go gateway's did."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Configuration file (TOML). Layers: defaults < file < CORTEX_GATEWAY_* env < flags.
    #[arg(long = "config.file", value_name = "PATH", global = true)]
    pub config_file: Option<PathBuf>,

    /// Check the configuration and its secret files, print every problem, and exit.
    #[arg(long = "config.check", global = true)]
    pub config_check: bool,

    #[command(flatten)]
    pub overrides: FlagOverrides,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Run,
    /// Check a configuration and its secret files; exit non-zero on any problem.
    CheckConfig {
        /// The file to check (default: -config.file).
        path: Option<PathBuf>,
    },
    /// Mint a token for a tenant with a configured key (`token inspect` explains one).
    Token(TokenArgs),
    /// GET an http:// URL and exit 0 on a 2xx answer, for container health checks.
    Probe {
        /// For example http://127.0.0.1:8080/health
        url: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: Option<TokenAction>,
    /// Tenant the token acts for (its tenant_id claim).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Lifetime, e.g. 90d or 12h; "never" omits exp.
    #[arg(long, default_value = "365d")]
    pub ttl: String,
    /// Key to sign with (default: the first configured key).
    #[arg(long)]
    pub kid: Option<String>,
    /// aud claim to include.
    #[arg(long)]
    pub audience: Option<String>,
    /// HS256, HS384 or HS512.
    #[arg(long, default_value = "HS256")]
    pub algorithm: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Explain whether the configured gateway accepts a token, and why.
    Inspect {
        /// The token; read from standard input when absent or "-".
        token: Option<String>,
    },
}

/// Flags that override single settings. Each is `None` unless given, so unset flags never
/// override the file or the environment.
#[derive(Debug, Default, clap::Args)]
pub struct FlagOverrides {
    /// Upstream URL of the Cortex distributor [upstreams.distributor.address]
    #[arg(
        long = "gateway.distributor.address",
        value_name = "URL",
        global = true
    )]
    pub distributor_address: Option<String>,
    /// Upstream URL of the Cortex query-frontend [upstreams.query_frontend.address]
    #[arg(
        long = "gateway.query-frontend.address",
        value_name = "URL",
        global = true
    )]
    pub query_frontend_address: Option<String>,
    /// Upstream URL of the querier, for user_stats [upstreams.querier.address]
    #[arg(long = "gateway.querier.address", value_name = "URL", global = true)]
    pub querier_address: Option<String>,
    /// Upstream URL of the ruler [upstreams.ruler.address]
    #[arg(long = "gateway.ruler.address", value_name = "URL", global = true)]
    pub ruler_address: Option<String>,
    /// Upstream URL of the Alertmanager [upstreams.alertmanager.address]
    #[arg(
        long = "gateway.alertmanager.address",
        value_name = "URL",
        global = true
    )]
    pub alertmanager_address: Option<String>,
    /// HMAC secret that signs the JWTs; visible in `ps`, prefer auth.keys with secret_file
    /// [auth.jwt_secret]
    #[arg(
        long = "gateway.auth.jwt-secret",
        value_name = "SECRET",
        global = true,
        hide_default_value = true
    )]
    pub jwt_secret: Option<String>,
    /// Address to listen on [server.http_listen_address]
    #[arg(
        long = "server.http-listen-address",
        value_name = "ADDR",
        global = true
    )]
    pub http_listen_address: Option<String>,
    /// Port to listen on [server.http_listen_port]
    #[arg(long = "server.http-listen-port", value_name = "PORT", global = true)]
    pub http_listen_port: Option<u16>,
    /// Time in-flight requests get to finish on SIGTERM, e.g. 30s [server.shutdown_timeout]
    #[arg(
        long = "server.graceful-shutdown-timeout",
        value_name = "DURATION",
        global = true
    )]
    pub shutdown_timeout: Option<String>,
    /// Worker threads, 0 = one per core [server.workers]
    #[arg(long = "server.workers", value_name = "N", global = true)]
    pub workers: Option<u64>,
    /// error, warn, info, debug or trace [log.level]
    #[arg(long = "log.level", value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
    /// logfmt or json [log.format]
    #[arg(long = "log.format", value_name = "FORMAT", global = true)]
    pub log_format: Option<String>,
}

impl FlagOverrides {
    fn settings(&self) -> Vec<(&'static str, Value)> {
        let strings = [
            ("upstreams.distributor.address", &self.distributor_address),
            (
                "upstreams.query_frontend.address",
                &self.query_frontend_address,
            ),
            ("upstreams.querier.address", &self.querier_address),
            ("upstreams.ruler.address", &self.ruler_address),
            ("upstreams.alertmanager.address", &self.alertmanager_address),
            ("auth.jwt_secret", &self.jwt_secret),
            ("server.http_listen_address", &self.http_listen_address),
            ("server.shutdown_timeout", &self.shutdown_timeout),
            ("log.level", &self.log_level),
            ("log.format", &self.log_format),
        ];
        let mut overrides: Vec<(&'static str, Value)> = strings
            .into_iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| (key, Value::from(v.clone()))))
            .collect();
        if let Some(port) = self.http_listen_port {
            overrides.push(("server.http_listen_port", Value::from(port)));
        }
        if let Some(workers) = self.workers {
            overrides.push(("server.workers", Value::from(workers)));
        }
        overrides
    }
}

impl Cli {
    /// Parses arguments, accepting Go's single-dash long flags (`-log.level=debug`).
    pub fn parse_go_style(args: impl IntoIterator<Item = OsString>) -> Self {
        Self::parse_from(normalize_go_flags(args))
    }

    pub fn config_source(&self) -> ConfigSource {
        ConfigSource {
            file: self.config_file.clone(),
            overrides: self.overrides.settings(),
        }
    }
}

/// `-name` with a multi-letter name becomes `--name`; `-h`, `--x` and values after `--` stay.
fn normalize_go_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut after_separator = false;
    args.into_iter()
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 || after_separator {
                return arg;
            }
            match arg.to_str() {
                Some("--") => {
                    after_separator = true;
                    arg
                }
                Some(text)
                    if text.len() > 2 && text.starts_with('-') && !text.starts_with("--") =>
                {
                    let name = text[1..].split('=').next().unwrap_or_default();
                    if name.len() > 1
                        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    {
                        OsString::from(format!("-{text}"))
                    } else {
                        arg
                    }
                }
                _ => arg,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::parse_go_style(args.iter().map(OsString::from))
    }

    #[test]
    fn go_single_and_double_dash_flags() {
        let cli = parse(&[
            "cortex-gateway",
            "-gateway.distributor.address=http://d:9009",
            "--gateway.query-frontend.address",
            "http://q:9009",
            "-gateway.auth.jwt-secret",
            "s",
            "-server.http-listen-port=9000",
            "-log.level=debug",
        ]);
        let overrides = cli.config_source().overrides;
        let get = |key: &str| {
            overrides
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("upstreams.distributor.address"),
            Some(Value::from("http://d:9009".to_owned()))
        );
        assert_eq!(
            get("upstreams.query_frontend.address"),
            Some(Value::from("http://q:9009".to_owned()))
        );
        assert_eq!(get("auth.jwt_secret"), Some(Value::from("s".to_owned())));
        assert_eq!(get("server.http_listen_port"), Some(Value::from(9000u16)));
        assert_eq!(get("log.level"), Some(Value::from("debug".to_owned())));
        assert!(
            get("server.http_listen_address").is_none(),
            "unset flags must not override"
        );
    }

    #[test]
    fn short_flags_and_negative_values_are_left_alone() {
        let args = ["cortex-gateway", "-h", "--", "-not.a.flag"].map(OsString::from);
        let normalized = normalize_go_flags(args);
        assert_eq!(normalized[1], "-h");
        assert_eq!(normalized[3], "-not.a.flag");
    }
}
