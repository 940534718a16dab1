//! Addresses and ports as the semantic conventions write them: `server.address` without the
//! brackets of an IPv6 literal, `server.port` from the same place as the address.

/// Splits a `Host` header or authority into address and port; an IPv6 literal loses its
/// brackets (`[::1]:80` is `::1` and `80`).
///
/// ```
/// use tracewire_core::addr::host_and_port;
///
/// assert_eq!(host_and_port("example.com:8080"), ("example.com", Some(8080)));
/// assert_eq!(host_and_port("[::1]:50051"), ("::1", Some(50051)));
/// assert_eq!(host_and_port("[::1]"), ("::1", None));
/// ```
pub fn host_and_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (addr, port);
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((addr, port)) if !addr.contains(':') => match port.parse() {
            Ok(port) => (addr, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

/// The host of `uri` for `server.address`: an IPv6 literal without its brackets.
///
/// ```
/// use tracewire_core::addr::uri_host;
///
/// assert_eq!(uri_host(&"http://[::1]:8080/x".parse().unwrap()), Some("::1"));
/// assert_eq!(uri_host(&"http://example.com/".parse().unwrap()), Some("example.com"));
/// ```
pub fn uri_host(uri: &http::Uri) -> Option<&str> {
    let host = uri.host()?;
    Some(
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host),
    )
}

/// The port a client connects to: explicit, or the scheme's default (`80`, `443`).
///
/// ```
/// use tracewire_core::addr::uri_port;
///
/// assert_eq!(uri_port(&"https://example.com/".parse().unwrap()), Some(443));
/// assert_eq!(uri_port(&"http://example.com:8080/".parse().unwrap()), Some(8080));
/// ```
pub fn uri_port(uri: &http::Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}
