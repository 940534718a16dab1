//! What the HTTP layers record on a sampled call's span at its end.

use std::fmt;

use http::StatusCode;
use tracewire_core::SampledSpan;

use crate::semconv;

/// The `error.type` of a server response whose body was dropped before its end: the
/// response could not be sent completely.
pub(crate) const BODY_DROPPED: &str = "body_dropped";

/// Records the response status: `http.response.status_code`, and for an error status (5xx;
/// 4xx too on a `client` span) `error.type` and the error status.
pub(crate) fn record_status(span: &SampledSpan, status: StatusCode, client: bool) {
    span.set_i64(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if let Some(error) = semconv::status_error(&status, client) {
        span.set_error_type(error);
    }
}

/// Marks the call failed with `error`, a transport or body error: `error.type` from the
/// error's types, the error status and an `exception` event.
pub(crate) fn record_failure<E: fmt::Display + 'static>(span: &SampledSpan, error: &E) {
    span.record_exception(
        crate::error::transport_error_type(error),
        std::any::type_name::<E>(),
        error,
    );
}
