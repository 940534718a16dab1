//! `Forwarded` (RFC 7239) and `X-Forwarded-*`, read only from trusted proxies.

use std::borrow::Cow;
use std::net::IpAddr;

/// A parameter of the first element of a `Forwarded` header (RFC 7239: each proxy appends
/// one, so the first describes the original client's request), unquoted.
pub(super) fn forwarded_value<'h>(forwarded: &'h str, key: &str) -> Option<&'h str> {
    forwarded.split(',').next()?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The original client behind trusted proxies: walking `Forwarded: for=` (or
/// `X-Forwarded-For`) from the right, the first address that is not a trusted proxy.
pub(super) fn forwarded_for<'h>(
    forwarded: Option<&'h str>,
    x_forwarded_for: Option<&'h str>,
    trusted: &[IpAddr],
) -> Option<Cow<'h, str>> {
    let candidates: Vec<&str> = match forwarded {
        Some(f) => f
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().trim_matches('"'))
                })
            })
            .collect(),
        None => x_forwarded_for?.split(',').map(str::trim).collect(),
    };
    let strip = |s: &'h str| -> &'h str {
        // "[2001:db8::1]:443" -> 2001:db8::1, "192.0.2.1:80" -> 192.0.2.1
        if let Some(rest) = s.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        match s.rsplit_once(':') {
            Some((host, _)) if !host.contains(':') => host,
            _ => s,
        }
    };
    candidates
        .into_iter()
        .rev()
        .map(strip)
        .find(|addr| {
            addr.parse::<IpAddr>()
                .map_or(true, |ip| !trusted.contains(&ip))
        })
        .filter(|addr| !addr.is_empty())
        .map(Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_parsing() {
        let trusted: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert_eq!(
            forwarded_for(None, Some("203.0.113.7, 10.0.0.2"), &trusted).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded_for(None, Some("spoofed, 198.51.100.1, 10.0.0.2"), &trusted).as_deref(),
            Some("198.51.100.1"),
            "only the right-most untrusted entry is believed"
        );
        assert_eq!(
            forwarded_for(
                Some("for=\"[2001:db8::1]:443\";proto=https, for=10.0.0.1"),
                None,
                &trusted
            )
            .as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            forwarded_value("for=1.2.3.4;proto=https;host=example.com", "host"),
            Some("example.com")
        );
        assert_eq!(
            forwarded_value("for=1.2.3.4;proto=https, for=5.6.7.8;proto=http", "proto"),
            Some("https"),
            "the original client's element, not the last proxy's"
        );
    }
}
