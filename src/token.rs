//! `cortex-gateway token`: mint a token for a tenant with a configured key, or explain whether the
//! gateway would accept a given token, and why.

use crate::auth::TenantId;
use crate::config::Config;
use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to put in a new token.
pub struct MintRequest<'a> {
    pub tenant: &'a str,
    /// Lifetime; `None` mints a token without `exp`.
    pub ttl: Option<Duration>,
    pub kid: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub algorithm: Algorithm,
}

#[derive(Serialize)]
struct Claims<'a> {
    tenant_id: &'a str,
    version: u32,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A signed token for `request.tenant`, checked against the same rules the gateway applies.
pub fn mint(config: &Config, request: &MintRequest<'_>) -> Result<String, String> {
    let tenant = TenantId::parse(request.tenant).map_err(|err| format!("--tenant: {err}"))?;
    if config.settings.auth.require_exp && request.ttl.is_none() {
        return Err("auth.require_exp is set: give a --ttl".into());
    }
    let now = unix_now();
    let claims = Claims {
        tenant_id: tenant.as_str(),
        version: 1,
        iat: now,
        exp: request.ttl.map(|ttl| now + ttl.as_secs()),
        aud: request.audience,
    };
    let token = config.keys.sign(request.kid, request.algorithm, &claims)?;
    // Never hand out a token the gateway itself would refuse (e.g. an audience it does not accept).
    config
        .keys
        .verify(&token)
        .map_err(|err| format!("the gateway would refuse this token: {err}"))?;
    Ok(token)
}

/// A human explanation of `token`: what it says, and whether this configuration accepts it.
/// Returns the text and whether the token is accepted.
pub fn inspect(config: &Config, token: &str) -> (String, bool) {
    let mut out = String::new();
    match jsonwebtoken::decode_header(token) {
        Ok(header) => {
            let _ = writeln!(
                out,
                "header:  alg={:?} kid={}",
                header.alg,
                header.kid.as_deref().unwrap_or("-")
            );
        }
        Err(_) => {
            let _ = writeln!(out, "header:  not a JWT header with a supported alg");
        }
    }
    if let Ok(data) = jsonwebtoken::dangerous::insecure_decode::<Value>(token) {
        let claims = data.claims;
        let field = |name: &str| {
            claims.get(name).map_or("-".to_owned(), |v| {
                v.to_string().trim_matches('"').to_owned()
            })
        };
        let _ = writeln!(
            out,
            "claims:  tenant_id={} aud={} version={} iat={} exp={}",
            field("tenant_id"),
            field("aud"),
            field("version"),
            describe_time(claims.get("iat")),
            describe_time(claims.get("exp")),
        );
    }
    let accepted = match config.keys.verify(token) {
        Ok(tenant) => {
            let _ = writeln!(out, "verdict: accepted, requests act as tenant {tenant}");
            true
        }
        Err(err) => {
            let _ = writeln!(out, "verdict: rejected ({}): {err}", err.reason());
            false
        }
    };
    (out, accepted)
}

fn describe_time(value: Option<&Value>) -> String {
    let Some(seconds) = value.and_then(Value::as_u64) else {
        return "-".into();
    };
    let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds));
    let now = unix_now();
    let relative = if seconds >= now {
        format!(
            "in {}",
            humantime::format_duration(Duration::from_secs(seconds - now))
        )
    } else {
        format!(
            "{} ago",
            humantime::format_duration(Duration::from_secs(now - seconds))
        )
    };
    format!("{when} ({relative})")
}

/// `cortex-gateway probe URL`: a dependency-free HTTP GET for container health checks (the
/// runtime image has no curl). Returns the status code of the answer.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs can be probed")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|err| format!("{authority}: {err}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, timeout).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|err| err.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|err| err.to_string())?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|err| err.to_string())?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))
}
