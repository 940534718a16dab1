//! Span names, routes and addresses as static strings, so that a span made directly with a
//! tracer costs no allocation for them. Routes are low-cardinality by definition (route templates, never
//! raw paths); the table is bounded all the same, and past its bound names are allocated per
//! request as before.

use std::collections::HashMap;
use std::sync::RwLock;

/// At most this many (method, route) pairs are kept.
const LIMIT: usize = 1024;
/// At most this many server addresses are kept (they come from the `Host` header, which a
/// client chooses: past the bound they are allocated per request).
const HOST_LIMIT: usize = 256;

/// Interned `{method} {route}` names and routes, and server addresses, each table bounded.
///
/// ```
/// use tracewire_core::intern::Interner;
///
/// let names = Interner::default();
/// let get = names.route("GET", "/users/{id}").unwrap();
/// assert_eq!(get.name, "GET /users/{id}");
/// assert!(std::ptr::eq(get.route, names.route("GET", "/users/{id}").unwrap().route));
/// ```
#[derive(Debug, Default)]
pub struct Interner {
    table: RwLock<HashMap<&'static str, HashMap<Box<str>, Interned>>>,
    hosts: RwLock<HashMap<Box<str>, &'static str>>,
}

/// A span name and its route, for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interned {
    /// `{method} {route}`.
    pub name: &'static str,
    /// The route.
    pub route: &'static str,
}

impl Interner {
    /// The interned name and route for `method` and `route`, or `None` once the table is full.
    pub fn route(&self, method: &'static str, route: &str) -> Option<Interned> {
        if let Ok(table) = self.table.read()
            && let Some(found) = table.get(method).and_then(|routes| routes.get(route))
        {
            return Some(*found);
        }
        let mut table = self.table.write().ok()?;
        let len: usize = table.values().map(HashMap::len).sum();
        let routes = table.entry(method).or_default();
        if let Some(found) = routes.get(route) {
            return Some(*found);
        }
        if len >= LIMIT {
            return None;
        }
        // Leaked on purpose: bounded by LIMIT, kept for the life of the process.
        let interned = Interned {
            name: Box::leak(format!("{method} {route}").into_boxed_str()),
            route: Box::leak(route.to_owned().into_boxed_str()),
        };
        routes.insert(route.into(), interned);
        Some(interned)
    }
}

impl Interner {
    /// The interned server address, or `None` once the table is full.
    pub fn host(&self, host: &str) -> Option<&'static str> {
        if let Ok(hosts) = self.hosts.read()
            && let Some(found) = hosts.get(host)
        {
            return Some(found);
        }
        let mut hosts = self.hosts.write().ok()?;
        if let Some(found) = hosts.get(host) {
            return Some(found);
        }
        if hosts.len() >= HOST_LIMIT {
            return None;
        }
        // Leaked on purpose: bounded by HOST_LIMIT, kept for the life of the process.
        let interned: &'static str = Box::leak(host.to_owned().into_boxed_str());
        hosts.insert(host.into(), interned);
        Some(interned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_bounded() {
        let names = Interner::default();
        let a = names.host("example.com").unwrap();
        assert!(std::ptr::eq(a, names.host("example.com").unwrap()));
        for i in 0..HOST_LIMIT {
            let _ = names.host(&format!("h{i}"));
        }
        assert_eq!(names.host("attacker-chosen"), None);
    }

    #[test]
    fn interns_once_and_stops_at_the_limit() {
        let names = Interner::default();
        let a = names.route("GET", "/users/{id}").unwrap();
        assert_eq!(a.name, "GET /users/{id}");
        assert_eq!(a.route, "/users/{id}");
        let b = names.route("GET", "/users/{id}").unwrap();
        assert!(std::ptr::eq(a.name, b.name), "same string, not a copy");
        assert_eq!(
            names.route("POST", "/users/{id}").unwrap().name,
            "POST /users/{id}"
        );
        for i in 0..LIMIT {
            let _ = names.route("GET", &format!("/r{i}"));
        }
        assert_eq!(names.route("GET", "/one-too-many"), None);
        assert!(
            names.route("GET", "/users/{id}").is_some(),
            "known routes still resolve"
        );
    }
}
