//! The guard: an actix extractor that accepts a request only with a valid bearer token and
//! yields its [`TenantId`]; every rejection is a `401` with a one-line reason.

use super::{KeySet, TenantId, TenantIdError};
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::server::snapshot;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};
use jsonwebtoken::Algorithm;
use std::future::{ready, Ready};

/// Why a request was not authenticated. `reason()` is the bounded metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send 'Authorization: Bearer <JWT>'")]
    Missing,
    #[error("Authorization header is not 'Bearer <JWT>'")]
    NotBearer,
    #[error("{0}")]
    Malformed(&'static str),
    #[error("token algorithm {0:?} is not accepted by any configured key")]
    AlgorithmNotAllowed(Algorithm),
    #[error("token names a key id (kid) that is not configured")]
    UnknownKeyId,
    #[error("token signature does not match any configured key")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token audience (aud) is not accepted")]
    BadAudience,
    #[error("{0}")]
    BadClaims(String),
    #[error("token tenant_id is invalid: {0}")]
    BadTenant(TenantIdError),
}

impl AuthError {
    /// Label value for `cortex_gateway_failed_authentications_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::NotBearer | Self::Malformed(_) => "malformed_token",
            Self::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Self::UnknownKeyId => "unknown_key_id",
            Self::BadSignature => "invalid_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::BadAudience => "invalid_audience",
            Self::BadClaims(_) => "invalid_claims",
            Self::BadTenant(_) => "invalid_tenant",
        }
    }

    /// Every label value `reason()` can produce, so the counters exist from the first scrape.
    pub const REASONS: [&'static str; 10] = [
        "missing_token",
        "malformed_token",
        "algorithm_not_allowed",
        "unknown_key_id",
        "invalid_signature",
        "expired",
        "not_yet_valid",
        "invalid_audience",
        "invalid_claims",
        "invalid_tenant",
    ];
}

/// Finds the bearer token in `headers` and verifies it against `keys`.
pub fn authenticate(headers: &HeaderMap, keys: &KeySet) -> Result<TenantId, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| AuthError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    keys.verify(token)
}

impl FromRequest for TenantId {
    type Error = GatewayError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let config = snapshot(req);
        let result = authenticate(req.headers(), &config.keys);
        let metrics = req.app_data::<GatewayMetrics>();
        match &result {
            Ok(tenant) => {
                if let Some(metrics) = metrics {
                    metrics.auth_succeeded(tenant, config.settings.metrics.tenant_label);
                }
                tracing::Span::current().record("tenant", tenant.as_str());
                // For the access log, which runs after the handler.
                req.extensions_mut().insert(tenant.clone());
            }
            Err(err) => {
                if let Some(metrics) = metrics {
                    metrics.auth_failed(err);
                }
                tracing::debug!(reason = err.reason(), "request refused: {err}");
            }
        }
        ready(result.map_err(GatewayError::Unauthorized))
    }
}
