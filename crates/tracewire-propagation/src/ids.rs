//! Random trace and span ids for traces we start ourselves.
//!
//! A per-thread xoshiro256++ generator seeded from the standard library's randomly keyed
//! hasher: uniformly distributed ids without a dependency, as the Level 2 random-trace-id flag
//! requires (the right-most 7 bytes of the trace id uniformly random).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use opentelemetry::trace::{SpanId, TraceId};

thread_local! {
    static STATE: Cell<[u64; 4]> = Cell::new(seed());
}

fn seed() -> [u64; 4] {
    let state = RandomState::new();
    let mut out = [0u64; 4];
    for (i, word) in out.iter_mut().enumerate() {
        let mut hasher = state.build_hasher();
        hasher.write_usize(i);
        *word = hasher.finish() | 1;
    }
    out
}

fn next_u64() -> u64 {
    STATE.with(|cell| {
        let mut s = cell.get();
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        cell.set(s);
        result
    })
}

/// A random, valid (non-zero) trace id.
pub(crate) fn trace_id() -> TraceId {
    loop {
        let id = (u128::from(next_u64()) << 64) | u128::from(next_u64());
        if id != 0 {
            return TraceId::from_bytes(id.to_be_bytes());
        }
    }
}

/// A random, valid (non-zero) span id.
pub(crate) fn span_id() -> SpanId {
    loop {
        let id = next_u64();
        if id != 0 {
            return SpanId::from_bytes(id.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = trace_id();
        let b = trace_id();
        assert_ne!(a, TraceId::INVALID);
        assert_ne!(a, b);
        assert_ne!(span_id(), SpanId::INVALID);
    }

    #[test]
    fn low_bytes_look_uniform() {
        // Each of the 7 random bytes should hit every bit both ways over a few hundred ids.
        let mut ones = [0u32; 56];
        for _ in 0..1000 {
            let low = u128::from_be_bytes(trace_id().to_bytes()) as u64 & ((1 << 56) - 1);
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((low >> bit) & 1) as u32;
            }
        }
        assert!(ones.iter().all(|&c| (400..600).contains(&c)), "{ones:?}");
    }
}
