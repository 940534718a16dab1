#![no_main]
//! `baggage`: parsing never panics, respects the limits, and what it emits parses back to the
//! same members.

use libfuzzer_sys::fuzz_target;
use tracewire_propagation::baggage::{Baggage, BaggageLimits};

fuzz_target!(|data: &[u8]| {
    let limits = BaggageLimits::default();
    let bag = Baggage::parse_fields([data], limits);
    assert!(bag.len() <= limits.members());
    assert!(bag.encoded_len() <= limits.bytes());
    let again = Baggage::parse_fields([bag.header()], limits);
    let a: Vec<_> = bag.iter().map(|m| (m.key(), m.value(), m.properties())).collect();
    let b: Vec<_> = again.iter().map(|m| (m.key(), m.value(), m.properties())).collect();
    assert_eq!(a, b);
});
