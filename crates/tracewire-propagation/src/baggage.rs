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

/// One baggage member, owned: what you build to add to a [`Baggage`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// The encoded form, `key=value;props`, as sent.
    encoded: String,
    key_end: usize,
    value_end: usize,
    value: String,
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
        let mut encoded = String::with_capacity(key.len() + value.len() + properties.len() + 1);
        encoded.push_str(key);
        encoded.push('=');
        percent_encode_into(value, &mut encoded);
        let value_end = encoded.len();
        push_properties(properties.as_bytes(), &mut encoded)?;
        Some(Self {
            key_end: key.len(),
            value_end,
            value: value.to_owned(),
            encoded,
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.encoded[..self.key_end]
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties in wire form: `;k=v;flag`, or empty.
    pub fn properties(&self) -> &str {
        &self.encoded[self.value_end..]
    }

    /// The member as sent: `key=percent-encoded-value;properties`.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

/// Where one member lies in [`Baggage`]'s wire string.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Span {
    start: usize,
    key_end: usize,
    value_end: usize,
    end: usize,
    /// The decoded value, when it differs from the raw one (it had a `%`).
    decoded: Option<Box<str>>,
}

/// A member of a [`Baggage`], borrowed.
#[derive(Clone, Copy)]
pub struct MemberRef<'a> {
    header: &'a str,
    span: &'a Span,
}

impl<'a> MemberRef<'a> {
    /// The key.
    pub fn key(&self) -> &'a str {
        &self.header[self.span.start..self.span.key_end]
    }

    /// The decoded value.
    pub fn value(&self) -> &'a str {
        match &self.span.decoded {
            Some(decoded) => decoded,
            None => &self.header[self.span.key_end + 1..self.span.value_end],
        }
    }

    /// The properties in wire form: `;k=v;flag`, or empty.
    pub fn properties(&self) -> &'a str {
        &self.header[self.span.value_end..self.span.end]
    }

    /// The member as sent.
    pub fn encoded(&self) -> &'a str {
        &self.header[self.span.start..self.span.end]
    }

    /// An owned copy.
    pub fn to_member(&self) -> Member {
        Member {
            encoded: self.encoded().to_owned(),
            key_end: self.span.key_end - self.span.start,
            value_end: self.span.value_end - self.span.start,
            value: self.value().to_owned(),
        }
    }
}

impl fmt::Debug for MemberRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoded())
    }
}

const TCHAR: u8 = 1;
const OCTET: u8 = 2;

/// Character classes: RFC 9110 `tchar` and `baggage-octet`, one table lookup per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            class |= TCHAR;
        }
        // baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
        if matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
            class |= OCTET;
        }
        t[b] = class;
        b += 1;
    }
    t
};

#[inline]
fn all_in(bytes: &[u8], class: u8) -> bool {
    crate::class::all_in(&CLASS, bytes, class)
}

#[inline]
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && all_in(s, TCHAR)
}

#[inline]
fn is_baggage_octet(b: u8) -> bool {
    CLASS[b as usize] & OCTET != 0
}

#[inline]
fn all_baggage_octets(s: &[u8]) -> bool {
    all_in(s, OCTET)
}

/// Validates `;`-separated properties and appends them without OWS (`;k=v;flag`) to `out`.
/// On malformed properties returns `None`; `out` may then hold a partial write.
fn push_properties(props: &[u8], out: &mut String) -> Option<()> {
    if props.is_empty() {
        return Some(());
    }
    let rest = trim_ows(props).strip_prefix(b";")?;
    for prop in rest.split(|&b| b == b';') {
        let prop = trim_ows(prop);
        out.push(';');
        match prop.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (k, v) = (trim_ows(&prop[..eq]), trim_ows(&prop[eq + 1..]));
                if !is_token(k) || !all_baggage_octets(v) {
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
    Some(())
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
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (
                crate::hex::nibble_any_case(bytes[i + 1]),
                crate::hex::nibble_any_case(bytes[i + 2]),
            )
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
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
///
/// Held as its wire form (one string, members separated by `,`) and the position of each
/// member in it: parsing allocates twice, plus once per value that needed percent-decoding.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    header: String,
    members: Vec<Span>,
}

impl Baggage {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            header: String::new(),
            members: Vec::new(),
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
            let field = field.as_ref();
            if bag.header.capacity() == 0 {
                bag.header.reserve(field.len().min(limits.bytes));
            }
            for member in field.split(|&b| b == b',') {
                if bag.members.len() == limits.members {
                    break 'fields;
                }
                let member = trim_ows(member);
                if !member.is_empty() {
                    bag.push_raw(member, limits);
                }
            }
        }
        bag
    }

    /// Validates one trimmed wire member and appends it, normalised, if it fits.
    fn push_raw(&mut self, member: &[u8], limits: BaggageLimits) {
        let rollback = self.header.len();
        if self.push_raw_inner(member, limits).is_none() {
            self.header.truncate(rollback);
        }
    }

    fn push_raw_inner(&mut self, member: &[u8], limits: BaggageLimits) -> Option<()> {
        let (kv, props) = match member.iter().position(|&b| b == b';') {
            Some(i) => (&member[..i], &member[i..]),
            None => (member, &[][..]),
        };
        let eq = kv.iter().position(|&b| b == b'=')?;
        let key = trim_ows(&kv[..eq]);
        let raw_value = trim_ows(&kv[eq + 1..]);
        if !is_token(key) || !all_baggage_octets(raw_value) {
            return None;
        }
        // Tokens and baggage octets are ASCII.
        let key = std::str::from_utf8(key).ok()?;
        let raw_value = std::str::from_utf8(raw_value).ok()?;
        if !self.members.is_empty() {
            self.header.push(',');
        }
        let start = self.header.len();
        self.header.push_str(key);
        let key_end = self.header.len();
        self.header.push('=');
        self.header.push_str(raw_value);
        let value_end = self.header.len();
        push_properties(props, &mut self.header)?;
        if self.header.len() > limits.bytes {
            return None;
        }
        let decoded = match percent_decode(raw_value) {
            Cow::Borrowed(_) => None,
            Cow::Owned(s) => Some(s.into_boxed_str()),
        };
        self.members.push(Span {
            start,
            key_end,
            value_end,
            end: self.header.len(),
            decoded,
        });
        Some(())
    }

    /// Appends `member` if it fits in `limits`; returns whether it did.
    pub fn push_within(&mut self, member: Member, limits: BaggageLimits) -> bool {
        let comma = usize::from(!self.members.is_empty());
        if self.members.len() >= limits.members
            || self.header.len() + comma + member.encoded.len() > limits.bytes
        {
            return false;
        }
        if comma == 1 {
            self.header.push(',');
        }
        let start = self.header.len();
        self.header.push_str(&member.encoded);
        let raw_value = &member.encoded[member.key_end + 1..member.value_end];
        self.members.push(Span {
            start,
            key_end: start + member.key_end,
            value_end: start + member.value_end,
            end: self.header.len(),
            decoded: (raw_value != member.value).then(|| member.value.into_boxed_str()),
        });
        true
    }

    /// Appends every member of `other` that fits in `limits`.
    pub fn extend_within(&mut self, other: &Self, limits: BaggageLimits) {
        for m in other.iter() {
            self.push_within(m.to_member(), limits);
        }
    }

    /// Sets a member within `limits`: an existing key keeps its place (other members with the
    /// same key are removed), a new key is appended. Setting the value a member already has
    /// changes nothing.
    pub fn insert(&mut self, member: Member, limits: BaggageLimits) -> bool {
        let Some(index) = self.iter().position(|m| m.key() == member.key()) else {
            return self.push_within(member, limits);
        };
        let current = self.iter().nth(index);
        let same = current.is_some_and(|m| {
            m.value() == member.value()
                && m.properties() == member.properties()
                && self.iter().filter(|o| o.key() == member.key()).count() == 1
        });
        if same {
            return true;
        }
        let mut members: Vec<Member> = Vec::with_capacity(self.len());
        for (i, m) in self.iter().enumerate() {
            if i == index {
                members.push(member.clone());
            } else if m.key() != member.key() {
                members.push(m.to_member());
            }
        }
        let before = std::mem::take(self);
        for m in members {
            if !self.push_within(m, limits) {
                // Over the limits with the new value: keep the list as it was.
                *self = before;
                return false;
            }
        }
        true
    }

    /// Removes every member with `key`; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        if !self.iter().any(|m| m.key() == key) {
            return false;
        }
        let kept: Vec<Member> = self
            .iter()
            .filter(|m| m.key() != key)
            .map(|m| m.to_member())
            .collect();
        *self = Self::new();
        for m in kept {
            // Everything fitted before; nothing grows.
            self.push_within(
                m,
                BaggageLimits::new()
                    .max_members(usize::MAX)
                    .max_bytes(usize::MAX),
            );
        }
        true
    }

    /// The value of the first member with `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|m| m.key() == key).map(|m| m.value())
    }

    /// Members in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = MemberRef<'_>> + '_ {
        self.members.iter().map(|span| MemberRef {
            header: &self.header,
            span,
        })
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
        self.header.len()
    }

    /// The header form.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The header value to send, or `None` when there is nothing to send.
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        if self.is_empty() {
            None
        } else {
            HeaderValue::from_str(&self.header).ok()
        }
    }

    /// As much as opentelemetry's `Baggage` holds (64 members, 8192 bytes, one value per
    /// key: the last one wins, as when inserting in order).
    pub fn to_otel(&self) -> opentelemetry::baggage::Baggage {
        let mut otel = opentelemetry::baggage::Baggage::new();
        for m in self.iter() {
            let metadata = m.properties().strip_prefix(';').unwrap_or("");
            otel.insert_with_metadata(
                m.key().to_owned(),
                m.value().to_owned(),
                BaggageMetadata::from(metadata),
            );
        }
        otel
    }

    /// Whether `otel` holds what [`to_otel`](Self::to_otel) would give: it was not changed
    /// since it was made from this list.
    pub fn matches_otel(&self, otel: &opentelemetry::baggage::Baggage) -> bool {
        otel_fingerprint(&self.to_otel()) == otel_fingerprint(otel)
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

/// An order-independent 64-bit fingerprint of opentelemetry's `Baggage` (which implements
/// neither `Clone` nor `PartialEq`): tells whether a baggage was changed since it was built.
pub(crate) fn otel_fingerprint(otel: &opentelemetry::baggage::Baggage) -> (usize, u64) {
    let sum = otel.iter().fold(0u64, |acc, (key, (value, metadata))| {
        let h = mix(mix(mix(0, key.as_str()), value.as_str()), metadata.as_str());
        acc.wrapping_add(h)
    });
    (otel.len(), sum)
}

/// A fast 64-bit hash step (multiply-rotate over 8-byte words), length-delimited.
fn mix(mut h: u64, s: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let (words, rest) = s.as_bytes().as_chunks::<8>();
    for w in words {
        h = step(h, u64::from_le_bytes(*w));
    }
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    h = step(h, u64::from_le_bytes(tail));
    step(h, s.len() as u64)
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
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
        assert_eq!(
            Member::new("k", "v w", ";p").unwrap().encoded(),
            "k=v%20w;p"
        );
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
        let mut other = opentelemetry::baggage::Baggage::new();
        other.insert("b", "x y");
        assert!(!bag.matches_otel(&other));
    }

    #[test]
    fn insert_replaces() {
        let mut bag = Baggage::parse_fields(["a=1,b=2,a=3"], BaggageLimits::default());
        assert_eq!(bag.len(), 3);
        bag.insert(Member::new("a", "9", "").unwrap(), BaggageLimits::default());
        assert_eq!(
            bag.header(),
            "a=9,b=2",
            "updated in place, duplicates removed"
        );
        assert_eq!(bag.encoded_len(), "a=9,b=2".len());
        bag.insert(Member::new("c", "3", "").unwrap(), BaggageLimits::default());
        assert_eq!(bag.header(), "a=9,b=2,c=3");
        bag.insert(Member::new("b", "2", "").unwrap(), BaggageLimits::default());
        assert_eq!(bag.header(), "a=9,b=2,c=3");
    }
}
