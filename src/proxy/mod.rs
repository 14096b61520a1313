//! Proxying: which component a path belongs to ([`RouteTable`]), where that component lives
//! ([`Upstreams`]), what headers cross ([`headers`]), and the streaming [`forward`] handler.

mod body;
mod builtin;
mod component;
mod forward;
pub mod headers;
mod path;
mod routes;
mod upstream;

pub use component::Component;
pub use forward::forward;
pub use routes::{Route, RouteMatch, RouteTable};
pub use upstream::{build_client, Upstream, Upstreams};
