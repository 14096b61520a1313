//! cortex-gateway: an authenticating front door for multi-tenant Cortex and Grafana Mimir.
//!
//! A request walks a short path: the actix route table sends everything but the gateway's own
//! endpoints (`/health`, `/ready`, `/metrics`, `/config`) to [`proxy::forward`]; its
//! [`auth::TenantId`] extractor verifies the bearer JWT against the key set of the current
//! [`config::Config`] snapshot; the handler matches the request against the gateway's own route
//! table, rewrites a few headers (the tenant's `X-Scope-OrgID` replaces whatever the client sent)
//! and streams the body to the component's upstream with the worker's pooled awc client, then
//! streams the answer back. [`metrics::observe`] wraps every request for the request histogram
//! and the access log. Configuration lives in a [`config::ConfigSlot`] (`ArcSwap`), so each
//! request reads one consistent snapshot, and [`config::ConfigWatcher`] swaps in reloads.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod proxy;
pub mod server;
pub mod telemetry;
pub mod token;
