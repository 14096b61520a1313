//! The Cortex/Mimir components a tenant request can be sent to.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Distributor,
    QueryFrontend,
    Querier,
    Ruler,
    Alertmanager,
}

impl Component {
    pub const ALL: [Component; 5] = [
        Self::Distributor,
        Self::QueryFrontend,
        Self::Querier,
        Self::Ruler,
        Self::Alertmanager,
    ];

    /// Name used in config `component = …`, in metric labels and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Distributor => "distributor",
            Self::QueryFrontend => "query-frontend",
            Self::Querier => "querier",
            Self::Ruler => "ruler",
            Self::Alertmanager => "alertmanager",
        }
    }

    /// Key of this component's section under `[upstreams]`.
    pub fn settings_key(self) -> &'static str {
        match self {
            Self::Distributor => "upstreams.distributor",
            Self::QueryFrontend => "upstreams.query_frontend",
            Self::Querier => "upstreams.querier",
            Self::Ruler => "upstreams.ruler",
            Self::Alertmanager => "upstreams.alertmanager",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        let normalized = name.replace('_', "-");
        Self::ALL.into_iter().find(|c| c.as_str() == normalized)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
