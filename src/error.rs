//! Every way a request can fail, sorted by who is at fault, mapped to a status and a one-line
//! plain-text reason in one place.

use crate::auth::AuthError;
use crate::proxy::Component;
use actix_web::http::header::{HeaderValue, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    // The client's fault.
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("no tenant route for this path")]
    NoRoute,
    #[error("route '{route}' needs the {component} upstream, which is not configured")]
    ComponentNotConfigured {
        route: Arc<str>,
        component: Component,
    },
    #[error("method not allowed on route '{route}'")]
    MethodNotAllowed { route: Arc<str>, allow: HeaderValue },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },

    // The upstream's fault.
    #[error("{component} upstream unreachable: {reason}")]
    UpstreamUnavailable {
        component: Component,
        reason: String,
    },
    #[error("{component} upstream did not answer within {}", humantime::format_duration(*.timeout))]
    UpstreamTimeout {
        component: Component,
        timeout: Duration,
    },

    // Ours.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ResponseError for GatewayError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NoRoute | Self::ComponentNotConfigured { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"));
        match self {
            // RFC 6750: no error attribute when the request carried no token at all.
            Self::Unauthorized(AuthError::Missing) => {
                response.insert_header((WWW_AUTHENTICATE, r#"Bearer realm="cortex-gateway""#));
            }
            Self::Unauthorized(err) => {
                let challenge = format!(
                    r#"Bearer realm="cortex-gateway", error="invalid_token", error_description="{}""#,
                    err.to_string().replace('"', "'")
                );
                response.insert_header((WWW_AUTHENTICATE, challenge));
            }
            Self::MethodNotAllowed { allow, .. } => {
                response.insert_header((ALLOW, allow.clone()));
            }
            _ => {}
        }
        response.body(format!("{self}\n"))
    }
}
