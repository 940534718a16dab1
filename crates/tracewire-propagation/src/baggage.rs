//! W3C Baggage.
//!
//! [`Baggage`] is an ordered list of members (key, decoded value, properties) parsed from
//! every `baggage` field of a request. Values are percent-decoded to UTF-8, with invalid
//! sequences replaced by U+FFFD; a value may contain `=`; properties are kept. Limits
//! ([`BaggageLimits`], at least 64 members and 8192 bytes) drop whole members, never parts.
//!
//! ```
//! use tracewire_propagation::baggage::{Baggage, BaggageLimits};
//!
//! let bag = Baggage::parse_fields(
//!     ["userId=alice, serverNode=DF%2028", "isProduction=false;ttl=30, expr=a=b"],
//!     BaggageLimits::default(),
//! );
//! assert_eq!(bag.get("serverNode"), Some("DF 28"));
//! assert_eq!(bag.get("expr"), Some("a=b"));
//! assert_eq!(bag.iter().nth(2).unwrap().properties(), ";ttl=30");
//! assert_eq!(bag.header(), "userId=alice,serverNode=DF%2028,isProduction=false;ttl=30,expr=a=b");
//! ```
//!
//! opentelemetry's `Baggage` is an unordered map capped at 64 members and 8192 bytes.
//! [`to_otel`](Baggage::to_otel) fills it with as much as it holds; the propagators of this
//! crate carry the complete, ordered list beside it so that nothing is lost between hops.

use std::borrow::Cow;
use std::fmt;

use http::HeaderValue;
use opentelemetry::baggage::BaggageMetadata;

use crate::traceparent::trim_ows;

/// How much baggage is kept. The defaults are the specification's minimums; values below them
/// are raised to them.
///
/// ```
/// use tracewire_propagation::baggage::BaggageLimits;
///
/// let limits = BaggageLimits::default().max_members(180).max_bytes(16 * 1024);
/// assert_eq!(limits.members(), 180);
/// assert_eq!(BaggageLimits::default().max_members(3).members(), 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaggageLimits {
    members: usize,
    bytes: usize,
}

impl BaggageLimits {
    /// The specification's minimum member count.
    pub const MIN_MEMBERS: usize = 64;
    /// The specification's minimum size in bytes.
    pub const MIN_BYTES: usize = 8192;

    /// The specification's minimums: 64 members and 8192 bytes.
    pub const fn new() -> Self {
        Self {
            members: Self::MIN_MEMBERS,
            bytes: Self::MIN_BYTES,
        }
    }

    /// Keep up to `members` members (at least 64).
    #[must_use]
    pub fn max_members(mut self, members: usize) -> Self {
        self.members = members.max(Self::MIN_MEMBERS);
        self
    }

    /// Keep up to `bytes` bytes of encoded baggage, commas included (at least 8192).
    #[must_use]
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.bytes = bytes.max(Self::MIN_BYTES);
        self
    }

    /// The member limit.
    pub fn members(&self) -> usize {
        self.members
    }

    /// The byte limit.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Default for BaggageLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// One baggage member.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Member {
    key: String,
    value: String,
    properties: String,
    /// The encoded form, `key=value;props`, as sent.
    encoded: String,
}

impl Member {
    /// Builds a member from a key (an HTTP token), a value (any UTF-8, percent-encoded when
    /// sent) and properties in wire form (`;k=v;flag`, or empty).
    ///
    /// Returns `None` when the key is not a token or the properties are malformed.
    pub fn new(key: &str, value: &str, properties: &str) -> Option<Self> {
        if !is_token(key.as_bytes()) {
            return None;
        }
        let properties = normalize_properties(properties.as_bytes())?;
        let mut encoded = String::with_capacity(key.len() + value.len() + properties.len() + 1);
        encoded.push_str(key);
        encoded.push('=');
        percent_encode_into(value, &mut encoded);
        encoded.push_str(&properties);
        Some(Self {
            key: key.to_owned(),
            value: value.to_owned(),
            properties,
            encoded,
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties in wire form: `;k=v;flag`, or empty.
    pub fn properties(&self) -> &str {
        &self.properties
    }

    /// The member as sent: `key=percent-encoded-value;properties`.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// Parses one trimmed list member.
    fn parse(member: &[u8]) -> Option<Self> {
        let (kv, props) = match member.iter().position(|&b| b == b';') {
            Some(i) => (&member[..i], &member[i..]),
            None => (member, &[][..]),
        };
        let eq = kv.iter().position(|&b| b == b'=')?;
        let key = trim_ows(&kv[..eq]);
        let raw_value = trim_ows(&kv[eq + 1..]);
        if !is_token(key) || !raw_value.iter().all(|&b| is_baggage_octet(b)) {
            return None;
        }
        let properties = normalize_properties(props)?;
        let key = std::str::from_utf8(key).ok()?;
        let raw = std::str::from_utf8(raw_value).ok()?;
        let value = percent_decode(raw).into_owned();
        let mut encoded = String::with_capacity(key.len() + raw.len() + properties.len() + 1);
        encoded.push_str(key);
        encoded.push('=');
        encoded.push_str(raw);
        encoded.push_str(&properties);
        Some(Self {
            key: key.to_owned(),
            value,
            properties,
            encoded,
        })
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

/// RFC 9110 `tchar`.
#[inline]
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
                | b'`' | b'|' | b'~'
        )
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`
#[inline]
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Validates `;`-separated properties and returns them without OWS: `;k=v;flag`.
fn normalize_properties(props: &[u8]) -> Option<String> {
    let mut out = String::new();
    if props.is_empty() {
        return Some(out);
    }
    let rest = trim_ows(props).strip_prefix(b";")?;
    for prop in rest.split(|&b| b == b';') {
        let prop = trim_ows(prop);
        out.push(';');
        match prop.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (k, v) = (trim_ows(&prop[..eq]), trim_ows(&prop[eq + 1..]));
                if !is_token(k) || !v.iter().all(|&b| is_baggage_octet(b)) {
                    return None;
                }
                out.push_str(std::str::from_utf8(k).ok()?);
                out.push('=');
                out.push_str(std::str::from_utf8(v).ok()?);
            }
            None if is_token(prop) => out.push_str(std::str::from_utf8(prop).ok()?),
            None => return None,
        }
    }
    Some(out)
}

/// Percent-decodes to UTF-8; invalid UTF-8 becomes U+FFFD, and a `%` not followed by two hex
/// digits is kept as it is.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (
                crate::hex::nibble_any_case(bytes[i + 1]),
                crate::hex::nibble_any_case(bytes[i + 2]),
            ) {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Percent-encodes every byte outside `baggage-octet`, and `%` itself.
pub fn percent_encode_into(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        if is_baggage_octet(b) && b != b'%' {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0x0f) as usize] as char);
        }
    }
}

/// An ordered list of baggage members.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    members: Vec<Member>,
    /// Encoded length, commas included.
    bytes: usize,
}

impl Baggage {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            members: Vec::new(),
            bytes: 0,
        }
    }

    /// Parses and combines every `baggage` field, in order. Malformed members are skipped;
    /// members beyond `limits` are dropped whole.
    pub fn parse_fields<'a, I, B>(fields: I, limits: BaggageLimits) -> Self
    where
        I: IntoIterator<Item = &'a B>,
        B: AsRef<[u8]> + ?Sized + 'a,
    {
        let mut bag = Self::new();
        'fields: for field in fields {
            for member in field.as_ref().split(|&b| b == b',') {
                if bag.members.len() == limits.members {
                    break 'fields;
                }
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                if let Some(member) = Member::parse(member) {
                    bag.push_within(member, limits);
                }
            }
        }
        bag
    }

    /// Appends `member` if it fits in `limits`; returns whether it did.
    pub fn push_within(&mut self, member: Member, limits: BaggageLimits) -> bool {
        let add = member.encoded.len() + usize::from(!self.members.is_empty());
        if self.members.len() >= limits.members || self.bytes + add > limits.bytes {
            return false;
        }
        self.bytes += add;
        self.members.push(member);
        true
    }

    /// Sets `key` to `value` (replacing every member with that key) within `limits`.
    pub fn insert(&mut self, member: Member, limits: BaggageLimits) -> bool {
        self.remove(&member.key.clone());
        self.push_within(member, limits)
    }

    /// Removes every member with `key`; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m.key != key);
        self.recount();
        before != self.members.len()
    }

    fn recount(&mut self) {
        self.bytes = self.members.iter().map(|m| m.encoded.len()).sum::<usize>()
            + self.members.len().saturating_sub(1);
    }

    /// The value of the first member with `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value.as_str())
    }

    /// Members in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Member> {
        self.members.iter()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Encoded size in bytes, commas included.
    pub fn encoded_len(&self) -> usize {
        self.bytes
    }

    /// The header form.
    pub fn header(&self) -> String {
        let mut out = String::with_capacity(self.bytes);
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&m.encoded);
        }
        out
    }

    /// The header value to send, or `None` when there is nothing to send.
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        if self.is_empty() {
            None
        } else {
            HeaderValue::from_str(&self.header()).ok()
        }
    }

    /// As much as opentelemetry's `Baggage` holds (64 members, 8192 bytes, one value per
    /// key: the last one wins, as when inserting in order).
    pub fn to_otel(&self) -> opentelemetry::baggage::Baggage {
        let mut otel = opentelemetry::baggage::Baggage::new();
        for m in &self.members {
            let metadata = m.properties.strip_prefix(';').unwrap_or("");
            otel.insert_with_metadata(
                m.key.clone(),
                m.value.clone(),
                BaggageMetadata::from(metadata),
            );
        }
        otel
    }

    /// Whether `otel` holds what [`to_otel`](Self::to_otel) would give: it was not changed
    /// since it was made from this list.
    pub fn matches_otel(&self, otel: &opentelemetry::baggage::Baggage) -> bool {
        otel_eq(&self.to_otel(), otel)
    }

    /// Builds an ordered list from opentelemetry's `Baggage`, sorted by key (its own order is
    /// not stable), skipping keys that are not tokens and malformed metadata.
    pub fn from_otel(otel: &opentelemetry::baggage::Baggage, limits: BaggageLimits) -> Self {
        let mut entries: Vec<_> = otel.iter().collect();
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let mut bag = Self::new();
        for (key, (value, metadata)) in entries {
            let props = if metadata.as_str().is_empty() {
                String::new()
            } else {
                format!(";{}", metadata.as_str())
            };
            if let Some(member) = Member::new(key.as_str(), value.as_str(), &props) {
                bag.push_within(member, limits);
            }
        }
        bag
    }
}

/// Whether two opentelemetry baggages hold the same entries (it implements no `PartialEq`).
pub(crate) fn otel_eq(a: &opentelemetry::baggage::Baggage, b: &opentelemetry::baggage::Baggage) -> bool {
    a.len() == b.len()
        && a.iter().all(|(key, (value, metadata))| {
            b.get_with_metadata(key.as_str())
                .is_some_and(|(v, m)| v == value && m == metadata)
        })
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.members).finish()
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a Member;
    type IntoIter = std::slice::Iter<'a, Member>;

    fn into_iter(self) -> Self::IntoIter {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%E2%9C%93"), "\u{2713}");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn percent_encoding_round_trips() {
        let mut out = String::new();
        percent_encode_into("a b,c;d\\e\"f%g\u{2713}", &mut out);
        assert_eq!(out, "a%20b%2Cc%3Bd%5Ce%22f%25g%E2%9C%93");
        assert_eq!(percent_decode(&out), "a b,c;d\\e\"f%g\u{2713}");
    }

    #[test]
    fn member_new_rejects_bad_keys() {
        assert!(Member::new("bad key", "v", "").is_none());
        assert!(Member::new("k", "v", "no-semicolon").is_none());
        assert_eq!(Member::new("k", "v w", ";p").unwrap().encoded(), "k=v%20w;p");
    }

    #[test]
    fn otel_projection() {
        let bag = Baggage::parse_fields(["a=1;p=2,b=x%20y"], BaggageLimits::default());
        let otel = bag.to_otel();
        assert_eq!(otel.get("b").map(|v| v.as_str()), Some("x y"));
        assert_eq!(otel.get_with_metadata("a").unwrap().1.as_str(), "p=2");
        assert!(bag.matches_otel(&otel));
        let back = Baggage::from_otel(&otel, BaggageLimits::default());
        assert_eq!(back.header(), "a=1;p=2,b=x%20y");
    }

    #[test]
    fn insert_replaces() {
        let mut bag = Baggage::parse_fields(["a=1,b=2,a=3"], BaggageLimits::default());
        assert_eq!(bag.len(), 3);
        bag.insert(Member::new("a", "9", "").unwrap(), BaggageLimits::default());
        assert_eq!(bag.header(), "b=2,a=9");
        assert_eq!(bag.encoded_len(), "b=2,a=9".len());
    }
}
