//! Character-class tables: one lookup per byte for the grammars of the formats.

/// Whether every byte of `bytes` has every bit of `class` in `table`.
#[inline]
pub(crate) fn all_in(table: &[u8; 256], bytes: &[u8], class: u8) -> bool {
    bytes.iter().fold(class, |acc, &b| acc & table[b as usize]) == class
}
