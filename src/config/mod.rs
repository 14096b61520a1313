//! Configuration: the raw settings tree, its figment layering, validation into a checked
//! [`Config`], and the [`ConfigSlot`] every worker reads its per-request snapshot from.

mod load;
mod secret;
mod settings;
mod slot;
mod validate;

pub use load::{load_settings, ConfigSource};
pub use secret::Secret;
pub use settings::*;
pub use slot::ConfigSlot;
pub use validate::{Config, ConfigError, Problem};
