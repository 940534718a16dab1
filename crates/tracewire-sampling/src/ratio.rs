//! The trace-id ratio decision, the same one `opentelemetry_sdk`'s `TraceIdRatioBased` makes,
//! so that every service deciding on a trace id with the same probability agrees.

use opentelemetry::trace::TraceId;

/// Whether `trace_id` falls within `probability` (the lower 63 bits of the id's lower half,
/// compared against `probability × 2⁶³`, as the SDK does).
#[inline]
pub(crate) fn within(probability: f64, trace_id: TraceId) -> bool {
    if probability >= 1.0 {
        return true;
    }
    if probability.is_nan() || probability <= 0.0 {
        return false;
    }
    let bound = (probability * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ]);
    (low >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};

    #[test]
    fn agrees_with_the_sdk() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for p in [0.0, 0.01, 0.25, 0.5, 0.9, 1.0] {
            let sdk = Sampler::TraceIdRatioBased(p);
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = TraceId::from(u128::from(x) << 64 | u128::from(x.rotate_left(17)));
                let theirs = sdk.should_sample(None, id, "x", &SpanKind::Server, &[], &[]);
                assert_eq!(
                    within(p, id),
                    matches!(theirs.decision, SamplingDecision::RecordAndSample),
                    "{p} {id}"
                );
            }
        }
    }
}
