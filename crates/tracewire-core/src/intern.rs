//! Span names, routes and addresses as static strings, so that a span made directly with a
//! tracer costs no allocation for them. Routes are low-cardinality by definition (route templates, never
//! raw paths); the table is bounded all the same, and past its bound names are allocated per
//! request as before.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

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
    /// The last lookups by the address of the route string asked for: axum hands every
    /// request of a route the same `Arc<str>`, so most lookups end here without hashing.
    recent: Recent,
}

/// A few (route address, method) → interned entries, each slot filled once and never
/// replaced.
struct Recent([OnceLock<RecentEntry>; RECENT]);

const RECENT: usize = 64;

struct RecentEntry {
    address: usize,
    method: &'static str,
    interned: Interned,
}

impl Default for Recent {
    fn default() -> Self {
        Self(std::array::from_fn(|_| OnceLock::new()))
    }
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recent")
    }
}

impl Recent {
    fn slot(address: usize, method: &'static str) -> usize {
        ((address >> 4) ^ (method.as_ptr() as usize >> 3)) % RECENT
    }

    #[inline]
    fn get(&self, method: &'static str, route: &str) -> Option<Interned> {
        let address = route.as_ptr() as usize;
        let entry = self.0[Self::slot(address, method)].get()?;
        // The address alone could be reused by another string: the contents decide.
        (entry.address == address
            && std::ptr::eq(entry.method, method)
            && entry.interned.route == route)
            .then_some(entry.interned)
    }

    fn put(&self, method: &'static str, route: &str, interned: Interned) {
        let address = route.as_ptr() as usize;
        let _ = self.0[Self::slot(address, method)].set(RecentEntry {
            address,
            method,
            interned,
        });
    }
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
        if let Some(found) = self.recent.get(method, route) {
            return Some(found);
        }
        if let Ok(table) = self.table.read()
            && let Some(found) = table.get(method).and_then(|routes| routes.get(route))
        {
            self.recent.put(method, route, *found);
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

    #[test]
    fn the_fast_path_checks_the_contents_not_only_the_address() {
        let names = Interner::default();
        let mut route = String::from("/aa");
        assert_eq!(names.route("GET", &route).unwrap().route, "/aa");
        assert_eq!(
            names.route("GET", &route).unwrap().route,
            "/aa",
            "from the fast path"
        );
        // Same buffer, other contents.
        route.replace_range(.., "/bb");
        assert_eq!(names.route("GET", &route).unwrap().route, "/bb");
        assert_eq!(names.route("POST", &route).unwrap().name, "POST /bb");
    }
}
