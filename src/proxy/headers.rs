//! Header hygiene between client and upstream: the tenant header is the gateway's alone, the
//! client's credentials stay here, hop-by-hop headers end at each hop, everything else passes.

use crate::auth::TenantId;
use actix_web::http::header::{
    self, HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST,
    TRANSFER_ENCODING,
};

pub const X_SCOPE_ORGID: HeaderName = HeaderName::from_static("x-scope-orgid");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the legacy
/// `Keep-Alive` and `Proxy-Connection`.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == KEEP_ALIVE
        || name == header::TE
        || name == header::TRAILER
        || name == TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str().starts_with("proxy-")
}

/// Names listed in `Connection: close, x-foo` are hop-by-hop for this message too.
fn connection_listed(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(CONNECTION).any(|value| {
        value.to_str().is_ok_and(|list| {
            list.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
        })
    })
}

/// What the gateway saw of the client's connection, for the `X-Forwarded-*` headers.
pub struct ClientConnection {
    pub peer_ip: Option<String>,
    pub scheme: &'static str,
    /// The client's `Host` header, passed on as `X-Forwarded-Host`.
    pub host: Option<HeaderValue>,
}

/// The headers to send upstream for a client request authenticated as `tenant`. Framing
/// (`Content-Length`, `Transfer-Encoding`) and `Host` are left to the upstream client, which sets
/// them for the body and URL it actually sends.
pub fn upstream_request_headers(
    incoming: &HeaderMap,
    tenant: &TenantId,
    client: &ClientConnection,
) -> HeaderMap {
    let mut outgoing = HeaderMap::with_capacity(incoming.len() + 4);
    let has_connection_list = incoming.contains_key(CONNECTION);
    let mut forwarded_for: Option<String> = None;
    for (name, value) in incoming.iter() {
        if name == X_FORWARDED_FOR {
            let chain = forwarded_for.get_or_insert_with(String::new);
            if let Ok(hops) = value.to_str() {
                if !chain.is_empty() {
                    chain.push_str(", ");
                }
                chain.push_str(hops);
            }
            continue;
        }
        let dropped = name == X_SCOPE_ORGID
            || name == AUTHORIZATION
            || name == HOST
            || name == CONTENT_LENGTH
            || name == X_FORWARDED_PROTO
            || name == X_FORWARDED_HOST
            || is_hop_by_hop(name)
            || (has_connection_list && connection_listed(incoming, name));
        if !dropped {
            outgoing.append(name.clone(), value.clone());
        }
    }
    outgoing.insert(X_SCOPE_ORGID, tenant.header_value().clone());
    if let Some(ip) = &client.peer_ip {
        let chain = match forwarded_for {
            Some(chain) if !chain.is_empty() => format!("{chain}, {ip}"),
            _ => ip.clone(),
        };
        if let Ok(value) = HeaderValue::from_str(&chain) {
            outgoing.insert(X_FORWARDED_FOR, value);
        }
    }
    outgoing.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.scheme));
    if let Some(host) = &client.host {
        outgoing.insert(X_FORWARDED_HOST, host.clone());
    }
    outgoing
}

/// Copies an upstream response's headers for the client, without hop-by-hop headers and without
/// `Content-Length`, which the response framing sets.
pub fn copy_response_headers(
    upstream: &HeaderMap,
    mut insert: impl FnMut(&HeaderName, &HeaderValue),
) {
    let has_connection_list = upstream.contains_key(CONNECTION);
    for (name, value) in upstream.iter() {
        let dropped = name == CONTENT_LENGTH
            || is_hop_by_hop(name)
            || (has_connection_list && connection_listed(upstream, name));
        if !dropped {
            insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn rewrites_tenant_and_strips_credentials_and_hops() {
        let incoming = headers(&[
            ("X-Scope-OrgID", "evil"),
            ("x-scope-orgid", "evil2"),
            ("Authorization", "Bearer abc"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic x"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("Accept", "a"),
            ("Accept", "b"),
        ]);
        let tenant = TenantId::parse("team-a").unwrap();
        let client = ClientConnection {
            peer_ip: Some("127.0.0.1".into()),
            scheme: "http",
            host: Some(HeaderValue::from_static("gw.example")),
        };
        let out = upstream_request_headers(&incoming, &tenant, &client);
        let all = |n: &str| {
            out.get_all(n)
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-scope-orgid"), ["team-a"]);
        assert!(all("authorization").is_empty());
        assert!(all("proxy-authorization").is_empty());
        assert!(all("connection").is_empty());
        assert!(all("x-secret-hop").is_empty());
        assert!(all("keep-alive").is_empty());
        assert_eq!(all("content-encoding"), ["snappy"]);
        assert_eq!(all("x-prometheus-remote-write-version"), ["0.1.0"]);
        assert_eq!(all("accept"), ["a", "b"]);
        assert_eq!(all("x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
        assert_eq!(all("x-forwarded-proto"), ["http"]);
        assert_eq!(all("x-forwarded-host"), ["gw.example"]);
    }
}
