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

/// Decodes exactly `2 * N` lowercase hex characters, eight at a time.
///
/// Each 8-byte chunk is checked lane by lane with carry-free additions (every lane is below
/// 0x80 first, so no lane can carry into the next): a lane is valid when it lies in `0x30..=0x39`
/// or `0x61..=0x66`. The nibble is the low four bits, plus 9 for a letter.
#[inline]
pub(crate) fn decode_lower_swar<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if src.len() != 2 * N || !N.is_multiple_of(4) {
        return decode::<N>(src);
    }
    let (chunks, _) = src.as_chunks::<8>();
    let mut out = [0u8; N];
    let mut bad = 0u64;
    for (chunk, dst) in chunks.iter().zip(out.chunks_exact_mut(4)) {
        let x = u64::from_le_bytes(*chunk);
        let ge_0 = x.wrapping_add(ONES * (0x80 - 0x30));
        let gt_9 = x.wrapping_add(ONES * (0x80 - 0x3a));
        let ge_a = x.wrapping_add(ONES * (0x80 - 0x61));
        let gt_f = x.wrapping_add(ONES * (0x80 - 0x67));
        let digit = ge_0 & !gt_9;
        let alpha = ge_a & !gt_f;
        bad |= (x & HIGH) | (!(digit | alpha) & HIGH);
        let nib = (x & (ONES * 0x0f)) + ((alpha & HIGH) >> 7) * 9;
        let mut v = ((nib << 4) | (nib >> 8)) & 0x00ff_00ff_00ff_00ff;
        v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
        v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
        dst.copy_from_slice(&v.to_le_bytes()[..4]);
    }
    if bad == 0 { Some(out) } else { None }
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
///
/// Four bytes at a time: their nibbles are spread into the eight lanes of a `u64`, then
/// turned into ASCII with one addition and a correction of 39 for the lanes at or above 10.
#[inline]
pub(crate) fn encode_into(src: &[u8], dst: &mut [u8]) {
    debug_assert_eq!(dst.len(), src.len() * 2);
    let (words, rest) = src.as_chunks::<4>();
    let (out_words, out_rest) = dst.split_at_mut(words.len() * 8);
    for (word, out) in words.iter().zip(out_words.chunks_exact_mut(8)) {
        let mut x = u64::from(u32::from_be_bytes(*word));
        x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
        let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        let ascii = x + 0x3030_3030_3030_3030 + letters * (b'a' - b'0' - 10) as u64;
        out.copy_from_slice(&ascii.to_be_bytes());
    }
    encode_bytewise(rest, out_rest);
}

#[inline]
fn encode_bytewise(src: &[u8], dst: &mut [u8]) {
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
    fn swar_agrees_with_the_table_on_every_byte() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut src = *b"0123abcd";
                src[pos] = b;
                assert_eq!(
                    decode_lower_swar::<4>(&src),
                    decode::<4>(&src),
                    "byte {b:#x} at {pos}"
                );
            }
        }
        assert_eq!(
            decode_lower_swar::<8>(b"00f067aa0ba902b7"),
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
    }

    #[test]
    fn encodes_lowercase() {
        let mut out = [0u8; 4];
        encode_into(&[0xab, 0x01], &mut out);
        assert_eq!(&out, b"ab01");
    }

    #[test]
    fn word_encoding_agrees_with_bytewise_on_every_byte() {
        for b in 0..=255u8 {
            for pos in 0..5 {
                let mut src = [0x5a, 0x00, 0xff, 0x19, 0xe0];
                src[pos] = b;
                let (mut fast, mut slow) = ([0u8; 10], [0u8; 10]);
                encode_into(&src, &mut fast);
                encode_bytewise(&src, &mut slow);
                assert_eq!(fast, slow, "byte {b:#x} at {pos}");
            }
        }
    }
}
