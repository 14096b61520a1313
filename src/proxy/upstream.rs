//! Upstream addresses, checked once at load, and the per-worker pooled awc client.

use super::Component;
use crate::config::{Problem, UpstreamsSettings};
use actix_web::http::Uri;
use std::time::Duration;

/// One component's upstream: base URL (scheme, authority, optional path prefix, no trailing
/// slash) and how long it may take to answer.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub component: Component,
    pub base: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    by_component: [Option<Upstream>; Component::ALL.len()],
}

impl Upstreams {
    pub fn from_settings(settings: &UpstreamsSettings, problems: &mut Vec<Problem>) -> Self {
        let mut upstreams = Self::default();
        for component in Component::ALL {
            let entry = match component {
                Component::Distributor => &settings.distributor,
                Component::QueryFrontend => &settings.query_frontend,
                Component::Querier => &settings.querier,
                Component::Ruler => &settings.ruler,
                Component::Alertmanager => &settings.alertmanager,
            };
            let key = format!("{}.address", component.settings_key());
            let required = matches!(component, Component::Distributor | Component::QueryFrontend);
            if entry.address.trim().is_empty() {
                if required {
                    problems.push(Problem::new(
                        key,
                        format!("the {component} address is required (http:// or https:// URL)"),
                    ));
                }
                continue;
            }
            if entry.timeout.is_zero() {
                let key = format!("{}.timeout", component.settings_key());
                problems.push(Problem::new(key, "must be greater than zero"));
            }
            match parse_base(entry.address.trim()) {
                Ok(base) => {
                    upstreams.by_component[component.index()] = Some(Upstream {
                        component,
                        base,
                        timeout: entry.timeout,
                    })
                }
                Err(message) => problems.push(Problem::new(key, message)),
            }
        }
        upstreams
    }

    pub fn get(&self, component: Component) -> Option<&Upstream> {
        self.by_component[component.index()].as_ref()
    }
}

fn parse_base(address: &str) -> Result<String, String> {
    let uri: Uri = address
        .parse()
        .map_err(|err| format!("{address:?} is not a URL: {err}"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        Some(other) => return Err(format!("scheme {other:?} is not http or https")),
        None => return Err(format!("{address:?} needs http:// or https://")),
    };
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| format!("{address:?} has no host"))?;
    if uri.query().is_some() {
        return Err(format!("{address:?} must not carry a query string"));
    }
    let prefix = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{prefix}"))
}

/// The worker's upstream client: one connection pool shared by every component, redirects
/// relayed to the client rather than followed, no headers of its own added.
pub fn build_client(settings: &UpstreamsSettings) -> awc::Client {
    install_crypto_provider();
    let connector = awc::Connector::new()
        .timeout(settings.connect_timeout)
        .limit(settings.max_connections_per_worker);
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        .no_default_headers()
        .finish()
}

/// rustls 0.23 needs a process-wide crypto provider before the first TLS config is built
/// (awc builds one for https upstreams). A second call finds it installed and does nothing.
fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_keeps_prefix_without_trailing_slash() {
        assert_eq!(
            parse_base("http://cortex:9009/prefix/").unwrap(),
            "http://cortex:9009/prefix"
        );
        assert_eq!(parse_base("https://cortex").unwrap(), "https://cortex");
    }

    #[test]
    fn refuses_what_cannot_be_an_upstream() {
        for bad in [
            "cortex:9009",
            "ftp://cortex",
            "http://",
            "http://c/?q=1",
            "not a url",
        ] {
            assert!(parse_base(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
