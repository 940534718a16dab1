//! Lowercase hexadecimal decoding and encoding, checked by character set and length.
//!
//! No number parser touches unchecked input: every byte goes through a table that maps
//! `0-9a-f` to its value and everything else (uppercase included) to `INVALID`.

const INVALID: u8 = 0xff;

/// Lowercase-only table: `0-9`, `a-f`.
static LOWER: [u8; 256] = build(false);
/// Table that also accepts `A-F`, for the formats whose readers are lenient (Jaeger).
static ANY_CASE: [u8; 256] = build(true);

const fn build(upper: bool) -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        if upper {
            table[b'A' as usize + i] = 10 + i as u8;
        }
        i += 1;
    }
    table
}

static DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Decodes exactly `2 * N` lowercase hex characters into `N` bytes.
#[inline]
pub(crate) fn decode<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    decode_with::<N>(src, &LOWER)
}

/// Like [`decode`], also accepting uppercase `A-F`.
#[inline]
pub(crate) fn decode_any_case<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    decode_with::<N>(src, &ANY_CASE)
}

#[inline]
fn decode_with<const N: usize>(src: &[u8], table: &[u8; 256]) -> Option<[u8; N]> {
    if src.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (i, pair) in src.chunks_exact(2).enumerate() {
        let hi = table[pair[0] as usize];
        let lo = table[pair[1] as usize];
        bad |= hi | lo;
        out[i] = (hi << 4) | (lo & 0x0f);
    }
    // Valid nibbles are < 16; INVALID has the high bit set.
    if bad & 0xf0 != 0 { None } else { Some(out) }
}

/// Decodes 1 to `2 * N` hex characters (either case) into `N` bytes, left-padding with zeros.
/// Used by formats that allow short ids (Jaeger, 64-bit B3 trace ids).
pub(crate) fn decode_padded_any_case<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    if src.is_empty() || src.len() > 2 * N {
        return None;
    }
    let mut padded = [b'0'; 64];
    let start = 2 * N - src.len();
    padded[start..2 * N].copy_from_slice(src);
    decode_any_case::<N>(&padded[..2 * N])
}

/// Encodes bytes as lowercase hex into `dst`, which must be twice as long as `src`.
#[inline]
pub(crate) fn encode_into(src: &[u8], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), src.len() * 2);
    for (byte, out) in src.iter().zip(dst.chunks_exact_mut(2)) {
        out[0] = DIGITS[(byte >> 4) as usize];
        out[1] = DIGITS[(byte & 0x0f) as usize];
    }
}

/// Value of one hex digit of either case, for percent-decoding.
#[inline]
pub(crate) fn nibble_any_case(b: u8) -> Option<u8> {
    let v = ANY_CASE[b as usize];
    (v != INVALID).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lowercase_only() {
        assert_eq!(decode::<2>(b"0aff"), Some([0x0a, 0xff]));
        assert_eq!(decode::<2>(b"0aFF"), None);
        assert_eq!(decode::<2>(b"+aff"), None);
        assert_eq!(decode::<2>(b"0af"), None);
        assert_eq!(decode::<1>(b"g0"), None);
    }

    #[test]
    fn decodes_any_case_and_padding() {
        assert_eq!(decode_any_case::<1>(b"Af"), Some([0xaf]));
        assert_eq!(decode_padded_any_case::<2>(b"f"), Some([0x00, 0x0f]));
        assert_eq!(decode_padded_any_case::<2>(b""), None);
        assert_eq!(decode_padded_any_case::<2>(b"12345"), None);
    }

    #[test]
    fn encodes_lowercase() {
        let mut out = [0u8; 4];
        encode_into(&[0xab, 0x01], &mut out);
        assert_eq!(&out, b"ab01");
    }
}
