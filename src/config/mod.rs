//! Configuration: the raw settings tree, its figment layering, validation into a checked
//! [`Config`], and the [`ConfigSlot`] every worker reads its per-request snapshot from.

mod load;
mod reload;
mod secret;
mod settings;
mod slot;
mod validate;
mod watcher;

pub use load::{load_settings, ConfigSource, ENV_PREFIX};
pub use reload::{fingerprint, ReloadOutcome, Reloader};
pub use secret::Secret;
pub use settings::*;
pub use slot::ConfigSlot;
pub use validate::{Config, ConfigError, Problem};
pub use watcher::{ConfigWatcher, ReloadTrigger, DEBOUNCE};
