#![no_main]
//! `traceparent`: parsing never panics, and whatever parses re-encodes to a value that parses
//! to the same thing.

use libfuzzer_sys::fuzz_target;
use tracewire_propagation::traceparent::TraceParent;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = TraceParent::parse(data) {
        let encoded = parsed.encode();
        assert_eq!(TraceParent::parse(&encoded), Ok(parsed));
    }
});
