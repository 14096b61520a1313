//! The built-in route table: every tenant-facing Cortex and Mimir path, by component. Internal
//! and admin paths (`/distributor/…`, `/all_user_stats`, `/ruler/ring`, `/api/v1/user-overrides`,
//! `/multitenant_alertmanager/…`, …) are deliberately absent, so they can never be proxied.

use crate::config::RouteSettings;

const READ: &[&str] = &["GET", "POST"];
const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const RULE_GROUPS: &[&str] = &["GET", "POST", "DELETE"];
const RULE_GROUP: &[&str] = &["GET", "DELETE"];
const ALL: &[&str] = &[];

/// Prometheus-compatible read endpoints served by the query-frontend under each query prefix.
const QUERY_API: &[(&str, &[&str])] = &[
    ("/api/v1/query", READ),
    ("/api/v1/query_range", READ),
    ("/api/v1/query_exemplars", READ),
    ("/api/v1/format_query", READ),
    ("/api/v1/parse_query", READ),
    ("/api/v1/series", READ),
    ("/api/v1/labels", READ),
    ("/api/v1/label/{name}/values", GET),
    ("/api/v1/metadata", GET),
    ("/api/v1/read", POST),
    ("/api/v1/status/buildinfo", GET),
    ("/api/v1/cardinality/label_names", READ),
    ("/api/v1/cardinality/label_values", READ),
];

/// Prefixes under which Cortex and Mimir serve the Prometheus API (`/prometheus`) and Cortex's
/// legacy one (`/api/prom`).
const QUERY_PREFIXES: &[&str] = &["/prometheus", "/api/prom"];

/// Rule configuration API roots: Cortex, Mimir, legacy.
const RULE_CONFIG_ROOTS: &[&str] = &[
    "/api/v1/rules",
    "/prometheus/config/v1/rules",
    "/api/prom/rules",
];

fn route(path: String, component: &str, methods: &[&str], name: Option<&str>) -> RouteSettings {
    RouteSettings {
        name: name.map(str::to_owned),
        path,
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        component: component.to_owned(),
        upstream_path: None,
    }
}

pub fn builtin_routes() -> Vec<RouteSettings> {
    let mut routes = vec![
        route("/api/v1/push".into(), "distributor", POST, None),
        route("/api/prom/push".into(), "distributor", POST, None),
        route("/api/v1/otlp/v1/metrics".into(), "distributor", POST, None),
        route("/otlp/v1/metrics".into(), "distributor", POST, None),
        route(
            "/api/v1/push/influx/write".into(),
            "distributor",
            POST,
            None,
        ),
    ];
    for prefix in QUERY_PREFIXES {
        for (path, methods) in QUERY_API {
            routes.push(route(
                format!("{prefix}{path}"),
                "query-frontend",
                methods,
                None,
            ));
        }
    }
    routes.push(route("/api/v1/user_stats".into(), "querier", GET, None));
    routes.push(route("/api/prom/user_stats".into(), "querier", GET, None));
    for prefix in QUERY_PREFIXES {
        routes.push(route(format!("{prefix}/api/v1/rules"), "ruler", GET, None));
        routes.push(route(format!("{prefix}/api/v1/alerts"), "ruler", GET, None));
    }
    for root in RULE_CONFIG_ROOTS {
        routes.push(route((*root).into(), "ruler", GET, None));
        routes.push(route(
            format!("{root}/{{namespace}}"),
            "ruler",
            RULE_GROUPS,
            None,
        ));
        routes.push(route(
            format!("{root}/{{namespace}}/{{group}}"),
            "ruler",
            RULE_GROUP,
            None,
        ));
    }
    // The tenant's Alertmanager configuration (not the ruler's alerts) and the Alertmanager
    // itself, UI and API v2, with every method it serves.
    routes.push(route(
        "/api/v1/alerts".into(),
        "alertmanager",
        &["GET", "POST", "DELETE"],
        None,
    ));
    routes.push(route(
        "/alertmanager".into(),
        "alertmanager",
        ALL,
        Some("alertmanager"),
    ));
    routes.push(route(
        "/alertmanager/{*path}".into(),
        "alertmanager",
        ALL,
        Some("alertmanager"),
    ));
    routes
}
