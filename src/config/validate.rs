//! Validation: raw [`Settings`] become a checked [`Config`] (keys loaded, routes compiled,
//! upstreams parsed), or a [`ConfigError`] listing every problem with its key.

use super::{load_settings, ConfigSource, KeyFamily, KeySettings, Secret, Settings};
use crate::auth::{KeySet, SigningKey, MIN_SECRET_BYTES};
use crate::proxy::{RouteTable, Upstreams};
use std::fmt;
use std::path::PathBuf;

/// A configuration the gateway can serve with. Built whole or not at all.
pub struct Config {
    pub settings: Settings,
    pub keys: KeySet,
    pub routes: RouteTable,
    pub upstreams: Upstreams,
    pub max_request_body: u64,
    /// Secret files the settings point at; a change to any of them is a change of config.
    pub secret_files: Vec<PathBuf>,
}

/// One thing wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn single(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem::new(key, message)],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {}", problem.key, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads every layer of `source` and validates the result.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        Self::from_settings(load_settings(source)?)
    }

    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut secret_files = Vec::new();
        let keys = build_key_set(&settings, &mut secret_files, &mut problems);
        let upstreams = Upstreams::from_settings(&settings.upstreams, &mut problems);
        let routes = RouteTable::build(&settings.routing, &mut problems);
        let max_request_body = settings.server.max_request_body.as_u64();
        if max_request_body == 0 {
            problems.push(Problem::new(
                "server.max_request_body",
                "must be greater than zero",
            ));
        }
        let tracing = &settings.tracing;
        if !(0.0..=1.0).contains(&tracing.sampling_ratio) {
            problems.push(Problem::new(
                "tracing.sampling_ratio",
                "must be between 0 and 1",
            ));
        }
        if !matches!(tracing.protocol.as_str(), "http/protobuf" | "http/json") {
            problems.push(Problem::new(
                "tracing.protocol",
                format!("{:?} is not http/protobuf or http/json", tracing.protocol),
            ));
        }
        if settings
            .server
            .admin_http_listen_port
            .is_some_and(|port| port != 0 && port == settings.server.http_listen_port)
        {
            problems.push(Problem::new(
                "server.admin_http_listen_port",
                "must differ from server.http_listen_port",
            ));
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&settings.log.level) {
            problems.push(Problem::new(
                "log.level",
                format!("{:?}: {err}", settings.log.level),
            ));
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Self {
            settings,
            keys,
            routes,
            upstreams,
            max_request_body,
            secret_files,
        })
    }
}

fn build_key_set(
    settings: &Settings,
    secret_files: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) -> KeySet {
    let auth = &settings.auth;
    let mut keys = Vec::new();
    if !auth.jwt_secret.is_empty() && check_strength("auth.jwt_secret", &auth.jwt_secret, problems)
    {
        keys.push(SigningKey::hmac(None, &auth.jwt_secret));
    }
    for (index, key) in auth.keys.iter().enumerate() {
        let prefix = format!("auth.keys[{index}]");
        if let Some(kid) = &key.kid {
            if auth.keys[..index]
                .iter()
                .any(|k| k.kid.as_ref() == Some(kid))
            {
                problems.push(Problem::new(
                    format!("{prefix}.kid"),
                    format!("{kid:?} is used by an earlier key"),
                ));
            }
        }
        secret_files.extend(key_files(key));
        if key.family == KeyFamily::Hmac {
            if key.public_key_file.is_some() {
                problems.push(Problem::new(
                    format!("{prefix}.public_key_file"),
                    "an hmac key has a secret, not a public key; set family to rsa, ec or eddsa",
                ));
            } else if let Some((source_key, secret)) = resolve_secret(&prefix, key, problems) {
                if check_strength(&source_key, &secret, problems) {
                    keys.push(SigningKey::hmac(key.kid.clone(), &secret));
                }
            }
        } else if let Some(key) = resolve_public_key(&prefix, key, problems) {
            keys.push(key);
        }
    }
    if keys.is_empty() && problems.iter().all(|p| !p.key.starts_with("auth.")) {
        problems.push(Problem::new(
            "auth.jwt_secret",
            "no signing key configured: set auth.jwt_secret (-gateway.auth.jwt-secret) or auth.keys",
        ));
    }
    KeySet::new(keys, auth)
}

/// The files a key is read from, which a change to is a change of configuration.
pub(super) fn key_files(key: &KeySettings) -> impl Iterator<Item = PathBuf> + '_ {
    [&key.secret_file, &key.public_key_file]
        .into_iter()
        .flatten()
        .map(|file| file.relative())
}

/// Loads a key of a public-key family from its `public_key_file`.
fn resolve_public_key(
    prefix: &str,
    key: &KeySettings,
    problems: &mut Vec<Problem>,
) -> Option<SigningKey> {
    if key.secret.is_some() || key.secret_env.is_some() || key.secret_file.is_some() {
        problems.push(Problem::new(
            prefix,
            "a public-key family (rsa, ec, eddsa) takes public_key_file, not a secret",
        ));
        return None;
    }
    let source_key = format!("{prefix}.public_key_file");
    let Some(path) = key.public_key_file.as_ref().map(|file| file.relative()) else {
        problems.push(Problem::new(
            source_key,
            "required for an rsa, ec or eddsa key",
        ));
        return None;
    };
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(err) => {
            problems.push(Problem::new(
                source_key,
                format!("cannot read {}: {err}", path.display()),
            ));
            return None;
        }
    };
    SigningKey::public(key.kid.clone(), key.family, &pem)
        .map_err(|message| {
            problems.push(Problem::new(
                source_key,
                format!("{}: {message}", path.display()),
            ))
        })
        .ok()
}

/// Reads a key's secret from the one place it is given. Returns the key path it came from.
fn resolve_secret(
    prefix: &str,
    key: &KeySettings,
    problems: &mut Vec<Problem>,
) -> Option<(String, Secret)> {
    let given = [
        key.secret.is_some(),
        key.secret_env.is_some(),
        key.secret_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        problems.push(Problem::new(
            prefix,
            "give the secret exactly one way: secret, secret_env or secret_file",
        ));
        return None;
    }
    if let Some(secret) = &key.secret {
        return Some((format!("{prefix}.secret"), secret.clone()));
    }
    if let Some(var) = &key.secret_env {
        let source_key = format!("{prefix}.secret_env");
        return match std::env::var(var) {
            Ok(value) => Some((source_key, Secret::new(value))),
            Err(_) => {
                problems.push(Problem::new(
                    source_key,
                    format!("environment variable {var} is not set"),
                ));
                None
            }
        };
    }
    let path = key.secret_file.as_ref()?.relative();
    let source_key = format!("{prefix}.secret_file");
    match std::fs::read_to_string(&path) {
        // Files written by `echo` or editors end in a newline that is not part of the secret.
        Ok(text) => Some((source_key, Secret::new(text.trim_end_matches(['\n', '\r'])))),
        Err(err) => {
            problems.push(Problem::new(
                source_key,
                format!("cannot read {}: {err}", path.display()),
            ));
            None
        }
    }
}

fn check_strength(key: &str, secret: &Secret, problems: &mut Vec<Problem>) -> bool {
    let length = secret.expose().len();
    if length == 0 {
        problems.push(Problem::new(key, "secret is empty"));
        return false;
    }
    if length < MIN_SECRET_BYTES {
        problems.push(Problem::new(
            key,
            format!("secret is {length} bytes; at least {MIN_SECRET_BYTES} are required"),
        ));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySettings;

    fn settings_with(key: KeySettings) -> Settings {
        let mut settings = Settings::default();
        settings.upstreams.distributor.address = "http://127.0.0.1:9009".into();
        settings.upstreams.query_frontend.address = "http://127.0.0.1:9009".into();
        settings.auth.keys = vec![key];
        settings
    }

    #[test]
    fn a_secret_can_come_from_the_environment() {
        let name = "CORTEX_GATEWAY_TEST_KEY_FROM_ENV";
        std::env::set_var(name, "a-secret-from-the-environment-0123456789");
        let key = KeySettings {
            secret_env: Some(name.into()),
            ..Default::default()
        };
        let config = Config::from_settings(settings_with(key)).expect("valid");
        assert_eq!(config.keys.len(), 1);

        let missing = KeySettings {
            secret_env: Some("CORTEX_GATEWAY_TEST_KEY_NOT_SET".into()),
            ..Default::default()
        };
        let err = Config::from_settings(settings_with(missing))
            .err()
            .expect("refused");
        assert_eq!(err.problems[0].key, "auth.keys[0].secret_env");
        assert!(err.problems[0].message.contains("is not set"));
    }

    #[test]
    fn a_secret_given_two_ways_is_refused() {
        let key = KeySettings {
            secret: Some(Secret::new("x".repeat(40))),
            secret_env: Some("ANY".into()),
            ..Default::default()
        };
        let err = Config::from_settings(settings_with(key))
            .err()
            .expect("refused");
        assert_eq!(err.problems[0].key, "auth.keys[0]");
    }
}
