//! Integration tests: the real gateway on 127.0.0.1:0 in front of real loopback HTTP servers that
//! record what reached them. One binary, so the crate links once.

mod auth;
pub mod binary;
mod deploy;
mod e2e;
mod headers;
mod helpers;
mod observability;
pub mod reload;
mod routes;
mod streaming;
mod telemetry;
