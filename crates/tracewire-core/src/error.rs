//! A low-cardinality `error.type` for a failed call, decided by types: the error's own
//! predicates and a walk down its source chain, falling back to the error's type name.
//!
//! A layer's inner service may fail with any `Display` type; [`as_error`] recovers a
//! `&dyn Error` for the types the core knows (tower's `BoxError` and other boxed errors,
//! `std::io::Error`, tower's timeout `Elapsed`), and the protocol crates add their own
//! (hyper-util's client error, tonic's transport error and `Status`).

use std::any::Any;
use std::convert::Infallible;
use std::error::Error;

/// What went wrong, as far as the error's types tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A timeout: tower's `Elapsed`, an I/O `TimedOut`, or an error that says it is one.
    Timeout,
    /// The connection could not be made: refused, unreachable, or name resolution.
    Connect,
}

impl ErrorKind {
    /// The `error.type` value: `timeout` or `connect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
        }
    }
}

/// The error as `&dyn Error`, for the types the core knows.
///
/// ```
/// use tracewire_core::error::as_error;
///
/// let boxed: tower::BoxError = Box::new(std::io::Error::other("boom"));
/// assert!(as_error(&boxed).is_some());
/// assert!(as_error(&"a plain string").is_none());
/// ```
pub fn as_error<E: 'static>(error: &E) -> Option<&(dyn Error + 'static)> {
    let any = error as &dyn Any;
    if let Some(e) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<Box<dyn Error>>() {
        return Some(&**e);
    }
    if let Some(e) = any.downcast_ref::<std::io::Error>() {
        return Some(e);
    }
    if let Some(e) = any.downcast_ref::<tower::timeout::error::Elapsed>() {
        return Some(e);
    }
    any.downcast_ref::<Infallible>()
        .map(|e| e as &(dyn Error + 'static))
}

/// Walks `error` and its sources for a timeout or a failed connection: tower's `Elapsed`, an
/// `std::io::Error`'s kind, or what `more` recognises (a protocol crate's own error types).
///
/// ```
/// use std::io;
/// use tracewire_core::error::{ErrorKind, kind_of};
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert_eq!(kind_of(&refused, |_| None), Some(ErrorKind::Connect));
/// let elapsed = tower::timeout::error::Elapsed::new();
/// assert_eq!(kind_of(&elapsed, |_| None), Some(ErrorKind::Timeout));
/// ```
pub fn kind_of(
    error: &(dyn Error + 'static),
    more: impl Fn(&(dyn Error + 'static)) -> Option<ErrorKind>,
) -> Option<ErrorKind> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(kind) = more(error) {
            return Some(kind);
        }
        if error.is::<tower::timeout::error::Elapsed>() {
            return Some(ErrorKind::Timeout);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            match io.kind() {
                Io::TimedOut => return Some(ErrorKind::Timeout),
                Io::ConnectionRefused
                | Io::AddrNotAvailable
                | Io::HostUnreachable
                | Io::NetworkUnreachable => return Some(ErrorKind::Connect),
                _ => {}
            }
        }
        next = error.source();
    }
    None
}

/// `error.type` for an error a call failed with: `timeout` or `connect` when the error's
/// types say so (with `more` for a protocol's own types, and `as_more` to see a concrete
/// error type the core does not know as `&dyn Error`), otherwise the error's type name
/// in full (`_OTHER` for a boxed error, whose type is hidden).
///
/// ```
/// use tracewire_core::error::error_type;
///
/// let elapsed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
/// assert_eq!(error_type(&elapsed, |_| None, |_| None), "timeout");
/// assert_eq!(error_type(&std::fmt::Error, |_| None, |_| None), "core::fmt::Error");
/// ```
pub fn error_type<E: 'static>(
    error: &E,
    as_more: impl Fn(&dyn Any) -> Option<&(dyn Error + 'static)>,
    more: impl Fn(&(dyn Error + 'static)) -> Option<ErrorKind>,
) -> &'static str {
    let dyn_error = as_error(error).or_else(|| as_more(error as &dyn Any));
    match dyn_error.and_then(|e| kind_of(e, more)) {
        Some(kind) => kind.as_str(),
        // A boxed error hides its type: the conventions' fallback.
        None if is_boxed(error) => "_OTHER",
        None => std::any::type_name::<E>(),
    }
}

fn is_boxed<E: 'static>(error: &E) -> bool {
    let any = error as &dyn Any;
    any.is::<Box<dyn Error + Send + Sync>>()
        || any.is::<Box<dyn Error + Send>>()
        || any.is::<Box<dyn Error>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped, with no word about its cause")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_source_chain_decides_not_the_text() {
        let boxed: tower::BoxError = Box::new(Wrapper(std::io::ErrorKind::TimedOut.into()));
        assert_eq!(error_type(&boxed, |_| None, |_| None), "timeout");
        let boxed: tower::BoxError =
            Box::new(Wrapper(std::io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(error_type(&boxed, |_| None, |_| None), "connect");
        // Words in the message decide nothing.
        let boxed: tower::BoxError = "connection timed out".into();
        assert_eq!(error_type(&boxed, |_| None, |_| None), "_OTHER");
        let elapsed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(error_type(&elapsed, |_| None, |_| None), "timeout");
        assert_eq!(
            error_type(&Wrapper(std::io::Error::other("x")), |_| None, |_| None),
            std::any::type_name::<Wrapper>()
        );
    }
}
