//! `error.type` of a failed HTTP call, by the error's types (see [`tracewire_core::error`]),
//! with axum's body error known too under the `axum` feature and hyper-util's client error
//! under the `hyper-util` feature.

use std::any::Any;
use std::error::Error;

use tracewire_core::error::{ErrorKind, error_type};

/// `timeout`, `connect`, or the error's type name.
pub(crate) fn transport_error_type<E: 'static>(error: &E) -> &'static str {
    error_type(error, as_more, more)
}

fn as_more(any: &dyn Any) -> Option<&(dyn Error + 'static)> {
    #[cfg(feature = "axum")]
    if let Some(e) = any.downcast_ref::<axum::Error>() {
        return Some(e);
    }
    #[cfg(feature = "hyper-util")]
    if let Some(e) = any.downcast_ref::<hyper_util::client::legacy::Error>() {
        return Some(e);
    }
    let _ = any;
    None
}

fn more(error: &(dyn Error + 'static)) -> Option<ErrorKind> {
    #[cfg(feature = "hyper-util")]
    if let Some(e) = error.downcast_ref::<hyper_util::client::legacy::Error>()
        && e.is_connect()
    {
        return Some(ErrorKind::Connect);
    }
    let _ = error;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_are_classified_by_type() {
        let refused: tower::BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(transport_error_type(&refused), "connect");
        let elapsed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(transport_error_type(&elapsed), "timeout");
        // The text of an error decides nothing.
        let worded: tower::BoxError = "request timed out: connection refused".into();
        assert_eq!(transport_error_type(&worded), "_OTHER");
        assert_eq!(transport_error_type(&std::fmt::Error), "core::fmt::Error");
    }
}
