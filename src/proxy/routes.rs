//! The route table: path patterns matched with `matchit`, each naming its component, methods,
//! a stable metric name and an optional upstream path.

use super::builtin::builtin_routes;
use super::Component;
use crate::config::{Problem, RouteSettings, RoutingSettings};
use actix_web::http::header::HeaderValue;
use actix_web::http::Method;
use std::sync::Arc;

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    /// Stable name, the `route` metric label (`api_v1_push`).
    pub name: Arc<str>,
    pub pattern: String,
    pub component: Component,
    /// Allowed methods; empty allows all.
    methods: Vec<Method>,
    /// Value of the `Allow` header a `405` carries.
    pub allow: HeaderValue,
    upstream_path: Option<PathTemplate>,
}

impl Route {
    pub fn allows(&self, method: &Method) -> bool {
        self.methods.is_empty() || self.methods.contains(method)
    }
}

/// A matched route with the raw (still percent-encoded) values of its parameters.
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    params: matchit::Params<'a, 'a>,
}

impl RouteMatch<'_> {
    /// The path to request upstream: the rewrite template filled in, or the request's own path.
    pub fn upstream_path<'p>(&self, request_path: &'p str) -> std::borrow::Cow<'p, str> {
        match &self.route.upstream_path {
            None => request_path.into(),
            Some(template) => template.render(&self.params).into(),
        }
    }
}

pub struct RouteTable {
    router: matchit::Router<usize>,
    routes: Vec<Route>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.routes).finish()
    }
}

impl RouteTable {
    /// Builds the table: the built-in routes (if enabled), each replaced by a configured route of
    /// the same name or path, then the remaining configured routes.
    pub fn build(settings: &RoutingSettings, problems: &mut Vec<Problem>) -> Self {
        let mut specs: Vec<(String, RouteSettings)> = Vec::new();
        if settings.builtin_routes {
            specs.extend(
                builtin_routes()
                    .into_iter()
                    .map(|r| ("routing.builtin".to_owned(), r)),
            );
        }
        for (index, configured) in settings.routes.iter().enumerate() {
            let key = format!("routing.routes[{index}]");
            let name = route_name(configured);
            let replaces = specs.iter().position(|(origin, spec)| {
                origin == "routing.builtin"
                    && (spec.path == configured.path || route_name(spec) == name)
            });
            match replaces {
                Some(position) => specs[position] = (key, configured.clone()),
                None => specs.push((key, configured.clone())),
            }
        }

        let mut table = Self {
            router: matchit::Router::new(),
            routes: Vec::with_capacity(specs.len()),
        };
        for (key, spec) in specs {
            match compile(&spec) {
                Ok(route) => {
                    if let Err(err) = table
                        .router
                        .insert(route.pattern.clone(), table.routes.len())
                    {
                        problems.push(Problem::new(
                            format!("{key}.path"),
                            format!("{:?}: {err}", spec.path),
                        ));
                        continue;
                    }
                    table.routes.push(route);
                }
                Err((field, message)) => {
                    problems.push(Problem::new(format!("{key}.{field}"), message))
                }
            }
        }
        table
    }

    pub fn find<'a>(&'a self, path: &'a str) -> Option<RouteMatch<'a>> {
        let matched = self.router.at(path).ok()?;
        Some(RouteMatch {
            route: &self.routes[*matched.value],
            params: matched.params,
        })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Cortex names a route after its path template: runs of anything but letters and digits become
/// one `_`, trimmed at both ends (`/api/v1/label/{name}/values` → `api_v1_label_name_values`).
pub fn route_name(spec: &RouteSettings) -> String {
    if let Some(name) = &spec.name {
        return name.clone();
    }
    let mut name = String::with_capacity(spec.path.len());
    for c in spec.path.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    name.trim_matches('_').to_owned()
}

fn compile(spec: &RouteSettings) -> Result<Route, (&'static str, String)> {
    if !spec.path.starts_with('/') {
        return Err(("path", format!("{:?} must start with '/'", spec.path)));
    }
    let component = Component::parse(&spec.component).ok_or_else(|| {
        (
            "component",
            format!(
                "{:?} is not one of distributor, query-frontend, querier, ruler, alertmanager",
                spec.component
            ),
        )
    })?;
    let mut methods = Vec::with_capacity(spec.methods.len());
    for method in &spec.methods {
        let parsed = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ("methods", format!("{method:?} is not an HTTP method")))?;
        methods.push(parsed);
    }
    let allow = if methods.is_empty() {
        "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS".to_owned()
    } else {
        methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let upstream_path = match &spec.upstream_path {
        None => None,
        Some(template) => {
            Some(PathTemplate::parse(template, &spec.path).map_err(|m| ("upstream_path", m))?)
        }
    };
    let name = route_name(spec);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(("name", format!("{name:?} must be letters, digits and '_'")));
    }
    Ok(Route {
        name: name.into(),
        pattern: spec.path.clone(),
        component,
        methods,
        allow: HeaderValue::from_str(&allow)
            .map_err(|_| ("methods", "invalid method list".to_owned()))?,
        upstream_path,
    })
}

/// An upstream path with `{param}` holes filled from the matched request path.
#[derive(Debug)]
struct PathTemplate {
    parts: Vec<TemplatePart>,
}

#[derive(Debug)]
enum TemplatePart {
    Literal(String),
    Param(String),
}

impl PathTemplate {
    fn parse(template: &str, pattern: &str) -> Result<Self, String> {
        if !template.starts_with('/') {
            return Err(format!("{template:?} must start with '/'"));
        }
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|i| open + i)
                .ok_or_else(|| format!("{template:?} has an unclosed '{{'"))?;
            if open > 0 {
                parts.push(TemplatePart::Literal(rest[..open].to_owned()));
            }
            let name = rest[open + 1..close].trim_start_matches('*');
            let declared = pattern.contains(&format!("{{{name}}}"))
                || pattern.contains(&format!("{{*{name}}}"));
            if !declared {
                return Err(format!(
                    "{{{name}}} does not appear in the route's path {pattern:?}"
                ));
            }
            parts.push(TemplatePart::Param(name.to_owned()));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    fn render(&self, params: &matchit::Params<'_, '_>) -> String {
        let mut path = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => path.push_str(text),
                TemplatePart::Param(name) => path.push_str(params.get(name).unwrap_or_default()),
            }
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: Vec<RouteSettings>, builtin: bool) -> RouteTable {
        let mut problems = Vec::new();
        let table = RouteTable::build(
            &RoutingSettings {
                builtin_routes: builtin,
                routes,
            },
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        table
    }

    #[test]
    fn names_follow_cortex() {
        let t = table(vec![], true);
        let name = |p: &str| t.find(p).unwrap().route.name.to_string();
        assert_eq!(name("/api/v1/push"), "api_v1_push");
        assert_eq!(
            name("/prometheus/api/v1/query_range"),
            "prometheus_api_v1_query_range"
        );
        assert_eq!(
            name("/api/prom/api/v1/label/job/values"),
            "api_prom_api_v1_label_name_values"
        );
        assert_eq!(name("/alertmanager/api/v2/status"), "alertmanager");
    }

    #[test]
    fn internal_paths_are_not_routes() {
        let t = table(vec![], true);
        for internal in [
            "/all_user_stats",
            "/distributor/all_user_stats",
            "/ha-tracker",
            "/ruler/ring",
            "/multitenant_alertmanager/status",
            "/api/v1/user-overrides",
            "/config",
            "/debug/pprof/heap",
            "/ingester/flush",
        ] {
            assert!(t.find(internal).is_none(), "{internal} must not be routed");
        }
    }

    #[test]
    fn configured_route_replaces_builtin_and_rewrites() {
        let t = table(
            vec![RouteSettings {
                path: "/api/v1/push".into(),
                component: "distributor".into(),
                upstream_path: Some("/api/v1/write".into()),
                ..Default::default()
            }],
            true,
        );
        let m = t.find("/api/v1/push").unwrap();
        assert_eq!(&*m.route.name, "api_v1_push");
        assert_eq!(m.upstream_path("/api/v1/push"), "/api/v1/write");
    }

    #[test]
    fn template_fills_params() {
        let t = table(
            vec![RouteSettings {
                path: "/vm/{*rest}".into(),
                component: "query-frontend".into(),
                upstream_path: Some("/select/0/prometheus/{rest}".into()),
                ..Default::default()
            }],
            false,
        );
        let m = t.find("/vm/api/v1/query").unwrap();
        assert_eq!(
            m.upstream_path("/vm/api/v1/query"),
            "/select/0/prometheus/api/v1/query"
        );
    }

    #[test]
    fn bad_routes_are_reported_with_their_key() {
        let mut problems = Vec::new();
        RouteTable::build(
            &RoutingSettings {
                builtin_routes: false,
                routes: vec![
                    RouteSettings {
                        path: "/x".into(),
                        component: "ingester".into(),
                        ..Default::default()
                    },
                    RouteSettings {
                        path: "/y".into(),
                        component: "ruler".into(),
                        upstream_path: Some("/z/{missing}".into()),
                        ..Default::default()
                    },
                ],
            },
            &mut problems,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].key, "routing.routes[0].component");
        assert_eq!(problems[1].key, "routing.routes[1].upstream_path");
    }
}
