//! Figment layering: defaults → TOML file → `CORTEX_GATEWAY_*` environment → command-line flags,
//! each later layer winning. Flags the user did not give are absent, so they never override.

use super::{ConfigError, Problem, Settings};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;
use std::path::PathBuf;

/// Environment variables with this prefix set settings; `__` separates levels, so
/// `CORTEX_GATEWAY_SERVER__HTTP_LISTEN_PORT=9000` sets `server.http_listen_port`.
pub const ENV_PREFIX: &str = "CORTEX_GATEWAY_";

/// Where settings come from: the file (if any) and the flags given on the command line, kept so a
/// reload re-reads the file and environment but keeps the same flag overrides.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    /// `(dotted.key, value)` for every flag the user gave.
    pub overrides: Vec<(&'static str, Value)>,
}

impl ConfigSource {
    pub fn figment(&self) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = &self.file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        for (key, value) in &self.overrides {
            figment = figment.merge(Serialized::default(key, value));
        }
        figment
    }
}

/// Reads every layer into one [`Settings`], or every problem found on the way.
pub fn load_settings(source: &ConfigSource) -> Result<Settings, ConfigError> {
    if let Some(file) = &source.file {
        // figment treats a missing file as empty; an operator who names a file means that file.
        if let Err(err) = std::fs::metadata(file) {
            return Err(ConfigError::single(
                "config.file",
                format!("cannot read {}: {err}", file.display()),
            ));
        }
    }
    source.figment().extract().map_err(|errors| ConfigError {
        problems: errors
            .into_iter()
            .map(|error| Problem {
                key: if error.path.is_empty() {
                    "config".into()
                } else {
                    error.path.join(".")
                },
                message: figment_message(&error),
            })
            .collect(),
    })
}

fn figment_message(error: &figment::Error) -> String {
    let origin = error
        .metadata
        .as_ref()
        .and_then(|meta| meta.source.as_ref())
        .map(|source| format!(" (in {source})"))
        .unwrap_or_default();
    format!("{}{origin}", error.kind)
}

#[cfg(test)]
// figment's Jail returns its own large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_unset_flags_do_not() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gateway.toml",
                "[server]\nhttp_listen_port = 9000\nworkers = 3\n",
            )?;
            let source = ConfigSource {
                file: Some("gateway.toml".into()),
                overrides: vec![("server.http_listen_port", Value::from(9100u16))],
            };
            let settings = load_settings(&source).expect("loads");
            assert_eq!(settings.server.http_listen_port, 9100);
            assert_eq!(settings.server.workers, 3);
            Ok(())
        });
    }

    #[test]
    fn environment_sits_between_file_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gateway.toml", "[server]\nworkers = 3\n")?;
            jail.set_env("CORTEX_GATEWAY_SERVER__WORKERS", "5");
            let source = ConfigSource {
                file: Some("gateway.toml".into()),
                overrides: vec![],
            };
            assert_eq!(load_settings(&source).unwrap().server.workers, 5);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gateway.toml", "[server]\nhttp_listen_prot = 9000\n")?;
            let source = ConfigSource {
                file: Some("gateway.toml".into()),
                overrides: vec![],
            };
            let err = load_settings(&source).unwrap_err().to_string();
            assert!(err.contains("http_listen_prot"), "{err}");
            Ok(())
        });
    }
}
