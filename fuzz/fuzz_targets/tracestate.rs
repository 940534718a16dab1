#![no_main]
//! `tracestate`: parsing never panics; accepted lists hold at most 32 members, re-parse to
//! themselves, and survive mutation and truncation.

use libfuzzer_sys::fuzz_target;
use tracewire_propagation::tracestate::TraceState;

fuzz_target!(|data: &[u8]| {
    let (a, b) = data.split_at(data.len() / 2);
    if let Ok(mut state) = TraceState::parse_fields([a, b]) {
        assert!(state.len() <= 32);
        assert_eq!(TraceState::parse(state.header()).as_ref(), Ok(&state));
        let _ = state.insert("fuzz", "value");
        assert!(state.len() <= 32);
        let limit = data.len() % 600;
        state.truncate_to(limit);
        assert!(state.header().len() <= limit);
        assert_eq!(TraceState::parse(state.header()).as_ref(), Ok(&state));
    }
});
