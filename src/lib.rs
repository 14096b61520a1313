//! cortex-gateway: an authenticating front door for multi-tenant Cortex and Grafana Mimir.
//!
//! A request walks a short path: the actix route table sends everything but `/health` and
//! `/metrics` to [`proxy::forward`]; its [`auth::TenantId`] extractor verifies the bearer JWT against
//! the key set of the current [`config::Config`] snapshot; the handler matches the request against
//! the gateway's own route table, rewrites a few headers (the tenant's `X-Scope-OrgID` replaces
//! whatever the client sent) and streams the body to the component's upstream with the worker's
//! pooled awc client, then streams the answer back. Configuration lives in a
//! [`config::ConfigSlot`] (`ArcSwap`), so each request reads one consistent snapshot.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod telemetry;
pub mod token;
