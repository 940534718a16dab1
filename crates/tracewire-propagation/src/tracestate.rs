//! The W3C `tracestate` header with the Level 2 key grammar.
//!
//! [`TraceState`] is a validated, ordered list of at most 32 members. Parsing combines every
//! field of the header in order, skips empty and white-space-only members, and rejects the
//! whole list when one member is invalid or when there are more than 32 members. Mutations
//! follow the specification: an inserted or updated key moves to the left, and
//! [`truncate_to`](TraceState::truncate_to) removes whole members, those longer than 128
//! characters first, then from the right.
//!
//! ```
//! use tracewire_propagation::tracestate::TraceState;
//!
//! let mut state = TraceState::parse_fields(["congo=t61rcWkgMzE", " , rojo=00f067aa0ba902b7"])?;
//! assert_eq!(state.header(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
//!
//! state.insert("rojo", "updated")?; // moves to the left
//! assert_eq!(state.header(), "rojo=updated,congo=t61rcWkgMzE");
//!
//! // Level 2 keys: any number of '@' after the first character.
//! assert!(TraceState::parse("foo@@bar=1,t@v*15=2").is_ok());
//! # Ok::<(), tracewire_propagation::tracestate::TraceStateError>(())
//! ```
//!
//! opentelemetry's own `TraceState` only accepts the Level 1 key grammar (one `@`, at most 13
//! characters after it). [`to_otel`](TraceState::to_otel) keeps the members it can hold; the
//! propagators of this crate carry the complete list beside the span context, so keys such as
//! `foo@@bar` still reach the next hop.

use std::fmt;

use http::HeaderValue;

use crate::traceparent::trim_ows;

/// At most this many members.
pub const MAX_MEMBERS: usize = 32;
/// Maximum key length.
pub const MAX_KEY_LEN: usize = 256;
/// Maximum value length.
pub const MAX_VALUE_LEN: usize = 256;
/// The combined length vendors should propagate at least.
pub const RECOMMENDED_MAX_LEN: usize = 512;
/// Members longer than this are the first to go when truncating.
pub const LONG_MEMBER: usize = 128;

/// A validated `tracestate` list.
///
/// Stored in its header form (`k=v,k=v`, no white space), so emitting it costs nothing and
/// parsing allocates once.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    header: String,
    len: usize,
}

/// Why a `tracestate` was rejected or a mutation refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateError {
    /// A member has no `=`.
    Member,
    /// A key does not follow the Level 2 key grammar.
    Key,
    /// A value is empty, too long, or has a character outside the value grammar.
    Value,
    /// More than 32 members.
    TooManyMembers,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Member => "tracestate list-member has no '='",
            Self::Key => "tracestate key does not follow the key grammar",
            Self::Value => "tracestate value is empty, too long or has an invalid character",
            Self::TooManyMembers => "tracestate has more than 32 list-members",
        })
    }
}

impl std::error::Error for TraceStateError {}

const KEY_FIRST: u8 = 1;
const KEY_CHAR: u8 = 2;
const NBLK: u8 = 4;
const CHR: u8 = 8;

/// Character classes of the tracestate grammar, one table lookup per byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            class |= KEY_FIRST | KEY_CHAR;
        }
        if matches!(c, b'_' | b'-' | b'*' | b'/' | b'@') {
            class |= KEY_CHAR;
        }
        // nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
        if matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e) {
            class |= NBLK | CHR;
        }
        if c == b' ' {
            class |= CHR;
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

/// Level 2 key: `(lcalpha / DIGIT) 0*255(keychar)`,
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
pub fn is_valid_key(key: &[u8]) -> bool {
    match key {
        [first, rest @ ..] => {
            key.len() <= MAX_KEY_LEN
                && CLASS[*first as usize] & KEY_FIRST != 0
                && all_in(rest, KEY_CHAR)
        }
        [] => false,
    }
}

/// Value: `0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`,
/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`.
pub fn is_valid_value(value: &[u8]) -> bool {
    match value {
        [rest @ .., last] => {
            value.len() <= MAX_VALUE_LEN && CLASS[*last as usize] & NBLK != 0 && all_in(rest, CHR)
        }
        [] => false,
    }
}

/// The key grammar opentelemetry's `TraceState` accepts (Level 1 multi-tenant keys): at most
/// one `@`, followed by 1 to 13 characters starting with a letter or digit.
pub(crate) fn otel_accepts_key(key: &str) -> bool {
    match key.split_once('@') {
        None => true,
        Some((_, vendor)) => {
            !vendor.contains('@')
                && vendor.len() <= 13
                && vendor
                    .bytes()
                    .next()
                    .is_none_or(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
    }
}

/// Splits a trimmed member at its `=`, checking the key while looking for it (one pass over
/// the key, one over the value).
#[inline]
fn split_member(member: &[u8]) -> Result<(&[u8], &[u8]), TraceStateError> {
    let Some((&first, rest)) = member.split_first() else {
        return Err(TraceStateError::Member);
    };
    if CLASS[first as usize] & KEY_FIRST == 0 {
        return Err(if first == b'=' || !member.contains(&b'=') {
            TraceStateError::Member
        } else {
            TraceStateError::Key
        });
    }
    let mut eq = None;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'=' {
            eq = Some(i + 1);
            break;
        }
        if CLASS[b as usize] & KEY_CHAR == 0 {
            return Err(if member[i + 1..].contains(&b'=') {
                TraceStateError::Key
            } else {
                TraceStateError::Member
            });
        }
    }
    let eq = eq.ok_or(TraceStateError::Member)?;
    if eq > MAX_KEY_LEN {
        return Err(TraceStateError::Key);
    }
    let (key, value) = (&member[..eq], &member[eq + 1..]);
    if !is_valid_value(value) {
        return Err(TraceStateError::Value);
    }
    Ok((key, value))
}

impl TraceState {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            header: String::new(),
            len: 0,
        }
    }

    /// Parses one header value.
    pub fn parse(value: &str) -> Result<Self, TraceStateError> {
        Self::parse_fields([value.as_bytes()])
    }

    /// Parses and combines every field of the header, in order.
    ///
    /// Empty and white-space-only members are skipped; any invalid member or more than 32
    /// members rejects the whole list. When a key repeats, the left-most member is kept.
    pub fn parse_fields<'a, I, B>(fields: I) -> Result<Self, TraceStateError>
    where
        I: IntoIterator<Item = &'a B>,
        B: AsRef<[u8]> + ?Sized + 'a,
    {
        let mut fields = fields.into_iter().peekable();
        let Some(first) = fields.peek() else {
            return Ok(Self::new());
        };
        let mut header = Vec::with_capacity(first.as_ref().len());
        // Where each kept key lies in `header`, to drop repeated keys. A header of 32 members
        // of at most 513 bytes each fits in u16 offsets.
        let mut keys = [(0u16, 0u16); MAX_MEMBERS];
        let mut len = 0;
        // Members seen, repeated ones included: a list of more than 32 is invalid whatever
        // its keys.
        let mut seen = 0;
        for field in fields {
            for member in field.as_ref().split(|&b| b == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                let (key, _) = split_member(member)?;
                seen += 1;
                if seen > MAX_MEMBERS {
                    return Err(TraceStateError::TooManyMembers);
                }
                let repeated = keys[..len].iter().any(|&(start, n)| {
                    let (start, n) = (usize::from(start), usize::from(n));
                    n == key.len() && &header[start..start + n] == key
                });
                if repeated {
                    continue;
                }
                if !header.is_empty() {
                    header.push(b',');
                }
                keys[len] = (
                    u16::try_from(header.len()).unwrap_or(u16::MAX),
                    u16::try_from(key.len()).unwrap_or(u16::MAX),
                );
                header.extend_from_slice(member);
                len += 1;
            }
        }
        // Every byte was checked against the ASCII grammar above.
        let header = String::from_utf8(header).map_err(|_| TraceStateError::Value)?;
        Ok(Self { header, len })
    }

    fn find_in(header: &[u8], key: &[u8]) -> Option<usize> {
        let mut start = 0;
        for member in header.split(|&b| b == b',') {
            if member.len() > key.len() && member.starts_with(key) && member[key.len()] == b'=' {
                return Some(start);
            }
            start += member.len() + 1;
        }
        None
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The header form, `k=v,k=v`; empty when there are no members (never send that).
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The header value to send, or `None` when the list is empty.
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        if self.header.is_empty() {
            None
        } else {
            HeaderValue::from_str(&self.header).ok()
        }
    }

    /// Members in order, as `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.header
            .split(',')
            .filter_map(|member| member.split_once('='))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Inserts or updates `key`, moving it to the left. When the list is full, the right-most
    /// member is removed to make room.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if !is_valid_key(key.as_bytes()) {
            return Err(TraceStateError::Key);
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(TraceStateError::Value);
        }
        self.remove(key);
        if self.len == MAX_MEMBERS {
            self.remove_at(self.len - 1);
        }
        let mut header = String::with_capacity(key.len() + value.len() + 2 + self.header.len());
        header.push_str(key);
        header.push('=');
        header.push_str(value);
        if !self.header.is_empty() {
            header.push(',');
            header.push_str(&self.header);
        }
        self.header = header;
        self.len += 1;
        Ok(())
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        let index = self.iter().position(|(k, _)| k == key);
        match index {
            Some(index) => {
                self.remove_at(index);
                true
            }
            None => false,
        }
    }

    fn member_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let mut start = 0;
        self.header.split(',').map(move |m| {
            let range = start..start + m.len();
            start += m.len() + 1;
            range
        })
    }

    fn remove_at(&mut self, index: usize) {
        let Some(range) = self.member_ranges().nth(index) else {
            return;
        };
        // Remove the member with one adjacent comma.
        let (start, end) = if range.end < self.header.len() {
            (range.start, range.end + 1)
        } else {
            (range.start.saturating_sub(1), range.end)
        };
        self.header.replace_range(start..end, "");
        self.len -= 1;
    }

    /// Shrinks the header to at most `max_len` characters by removing whole members: first
    /// members longer than 128 characters (right-most first), then members from the right.
    ///
    /// ```
    /// use tracewire_propagation::tracestate::TraceState;
    ///
    /// let long = "x".repeat(200);
    /// let mut state = TraceState::parse(&format!("a=1,big={long},b=2,c=3"))?;
    /// state.truncate_to(9);
    /// assert_eq!(state.header(), "a=1,b=2");
    /// # Ok::<(), tracewire_propagation::tracestate::TraceStateError>(())
    /// ```
    pub fn truncate_to(&mut self, max_len: usize) {
        while self.header.len() > max_len {
            let long = self
                .member_ranges()
                .enumerate()
                .filter(|(_, r)| r.len() > LONG_MEMBER)
                .map(|(i, _)| i)
                .last();
            match long {
                Some(index) => self.remove_at(index),
                None if self.len > 0 => self.remove_at(self.len - 1),
                None => break,
            }
        }
    }

    /// The members opentelemetry's `TraceState` can hold (see the module docs).
    pub fn to_otel(&self) -> opentelemetry::trace::TraceState {
        if self.is_empty() {
            return opentelemetry::trace::TraceState::NONE;
        }
        opentelemetry::trace::TraceState::from_key_value(
            self.iter().filter(|(k, _)| otel_accepts_key(k)),
        )
        .unwrap_or_default()
    }

    /// Whether [`to_otel`](Self::to_otel) keeps every member.
    pub fn fits_otel(&self) -> bool {
        self.iter().all(|(k, _)| otel_accepts_key(k))
    }

    /// Whether `otel` holds exactly the members [`to_otel`](Self::to_otel) would give, in
    /// order: it was not changed since it was made from this list.
    pub fn matches_otel(&self, otel: &opentelemetry::trace::TraceState) -> bool {
        let mut ours = self.iter().filter(|(k, _)| otel_accepts_key(k));
        let mut theirs = otel.into_iter();
        loop {
            match (ours.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
    }

    /// Takes the members of an opentelemetry `TraceState` that follow this module's grammar
    /// (opentelemetry accepts empty values and more characters; those members are dropped).
    pub fn from_otel(otel: &opentelemetry::trace::TraceState) -> Self {
        let mut state = Self::new();
        let mut header = String::new();
        for (key, value) in otel {
            if state.len == MAX_MEMBERS {
                break;
            }
            if is_valid_key(key.as_bytes())
                && is_valid_value(value.as_bytes())
                && Self::find_in(header.as_bytes(), key.as_bytes()).is_none()
            {
                if !header.is_empty() {
                    header.push(',');
                }
                header.push_str(key);
                header.push('=');
                header.push_str(value);
                state.len += 1;
            }
        }
        state.header = header;
        state
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceState").field(&self.header).finish()
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl std::str::FromStr for TraceState {
    type Err = TraceStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_members_keeps_commas_right() {
        let mut s = TraceState::parse("a=1,b=2,c=3").unwrap();
        assert!(s.remove("b"));
        assert_eq!(s.header(), "a=1,c=3");
        assert!(s.remove("c"));
        assert_eq!(s.header(), "a=1");
        assert!(s.remove("a"));
        assert_eq!(s.header(), "");
        assert!(s.is_empty());
        assert!(!s.remove("a"));
    }

    #[test]
    fn duplicate_keys_keep_the_leftmost() {
        let s = TraceState::parse("a=1,b=2,a=3").unwrap();
        assert_eq!(s.header(), "a=1,b=2");
        assert_eq!(s.get("a"), Some("1"));
    }

    #[test]
    fn repeated_members_count_toward_the_limit() {
        let repeated = vec!["a=1"; 40].join(",");
        assert_eq!(
            TraceState::parse(&repeated),
            Err(TraceStateError::TooManyMembers)
        );
        let thirty_two = vec!["a=1"; 32].join(",");
        assert_eq!(TraceState::parse(&thirty_two).unwrap().header(), "a=1");
    }

    #[test]
    fn key_prefix_is_not_a_match() {
        let s = TraceState::parse("ab=1,a=2").unwrap();
        assert_eq!(s.get("a"), Some("2"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn insert_into_full_list_drops_the_rightmost() {
        let header: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let mut s = TraceState::parse(&header.join(",")).unwrap();
        s.insert("new", "x").unwrap();
        assert_eq!(s.len(), 32);
        assert!(s.header().starts_with("new=x,k0=v"));
        assert_eq!(s.get("k31"), None);
    }

    #[test]
    fn otel_projection_and_match() {
        let s = TraceState::parse("foo@@bar=1,congo=2,t@v=3").unwrap();
        assert!(!s.fits_otel());
        let otel = s.to_otel();
        assert_eq!(otel.header(), "congo=2,t@v=3");
        assert!(s.matches_otel(&otel));
        let changed = otel.insert("new", "1").unwrap();
        assert!(!s.matches_otel(&changed));
    }

    #[test]
    fn from_otel_drops_what_our_grammar_rejects() {
        let otel =
            opentelemetry::trace::TraceState::from_key_value([("a", "1"), ("b", "")]).unwrap();
        assert_eq!(TraceState::from_otel(&otel).header(), "a=1");
    }
}
