//! The shared, swappable configuration: workers `load()` one snapshot per request; a reload
//! `store()`s a new one without disturbing requests that hold the old.

use super::Config;
use arc_swap::ArcSwap;
use std::sync::Arc;

#[derive(Clone)]
pub struct ConfigSlot(Arc<ArcSwap<Config>>);

impl ConfigSlot {
    pub fn new(config: Config) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(config)))
    }

    /// The current configuration. Hold the `Arc` for the whole request, so everything it does
    /// agrees with one version.
    pub fn load(&self) -> Arc<Config> {
        self.0.load_full()
    }

    pub fn store(&self, config: Config) {
        self.0.store(Arc::new(config));
    }
}
