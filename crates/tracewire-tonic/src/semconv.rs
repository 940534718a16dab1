//! The RPC semantic conventions: which generation of attribute names, method names, status
//! codes and their error mapping.

use http::HeaderMap;
use tonic::Code;

/// `rpc.system.name` / `rpc.system`.
pub const RPC_SYSTEM_NAME: &str = "rpc.system.name";
/// The older `rpc.system`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// `rpc.method`: `package.Service/Method` (current) or `Method` (old).
pub const RPC_METHOD: &str = "rpc.method";
/// `rpc.method_original`, when `rpc.method` is `_OTHER`.
pub const RPC_METHOD_ORIGINAL: &str = "rpc.method_original";
/// The older `rpc.service`: `package.Service`.
pub const RPC_SERVICE: &str = "rpc.service";
/// `rpc.response.status_code`: the status code's name (`OK`, `NOT_FOUND`).
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";
/// The older `rpc.grpc.status_code`: the status code's number.
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// `network.peer.address`.
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port`.
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// The per-message event.
pub const RPC_MESSAGE: &str = "rpc.message";

/// Which generation of the RPC semantic conventions the spans follow.
///
/// The default is [`Current`](Self::Current), unless `OTEL_SEMCONV_STABILITY_OPT_IN` says
/// otherwise when a layer is made (see [`from_env`](Self::from_env)); a layer's `conventions`
/// method overrides both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RpcConventions {
    /// `rpc.system.name = grpc`, `rpc.method = package.Service/Method`,
    /// `rpc.response.status_code = NOT_FOUND` (semantic conventions 1.38 and later).
    #[default]
    Current,
    /// `rpc.system = grpc`, `rpc.service = package.Service`, `rpc.method = Method`,
    /// `rpc.grpc.status_code = 5` (semantic conventions 1.37 and earlier).
    Old,
    /// Both sets. `rpc.method` can hold only one value: it holds the current one
    /// (`package.Service/Method`); `rpc.service` carries the service for older backends.
    Both,
}

impl RpcConventions {
    /// Reads `OTEL_SEMCONV_STABILITY_OPT_IN` (see [`parse`](Self::parse)); unset means
    /// [`Current`](Self::Current).
    ///
    /// ```
    /// use tracewire_tonic::RpcConventions;
    ///
    /// let conventions = RpcConventions::from_env();
    /// # let _ = conventions;
    /// ```
    pub fn from_env() -> Self {
        std::env::var("OTEL_SEMCONV_STABILITY_OPT_IN").map_or(Self::Current, |v| Self::parse(&v))
    }

    /// Reads an `OTEL_SEMCONV_STABILITY_OPT_IN` value: a comma-separated list in which `rpc/dup`
    /// means [`Both`](Self::Both), `rpc/old` [`Old`](Self::Old) and `rpc`
    /// [`Current`](Self::Current). Entries for other domains (`http`, `database`) are not ours
    /// and are passed over; without an `rpc` entry the result is `Current`.
    ///
    /// ```
    /// use tracewire_tonic::RpcConventions;
    ///
    /// assert_eq!(RpcConventions::parse("http, rpc/dup"), RpcConventions::Both);
    /// assert_eq!(RpcConventions::parse("rpc/old"), RpcConventions::Old);
    /// assert_eq!(RpcConventions::parse("http"), RpcConventions::Current);
    /// ```
    pub fn parse(value: &str) -> Self {
        let entries = || value.split(',').map(str::trim);
        if entries().any(|e| e.eq_ignore_ascii_case("rpc/dup")) {
            Self::Both
        } else if entries().any(|e| e.eq_ignore_ascii_case("rpc")) {
            Self::Current
        } else if entries().any(|e| e.eq_ignore_ascii_case("rpc/old")) {
            Self::Old
        } else {
            Self::Current
        }
    }

    pub(crate) fn current(self) -> bool {
        matches!(self, Self::Current | Self::Both)
    }

    pub(crate) fn old(self) -> bool {
        matches!(self, Self::Old | Self::Both)
    }
}

/// The method of a call, from its path `/package.Service/Method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RpcMethod<'a> {
    /// `package.Service/Method`, or `None` for a path that is not a gRPC method.
    pub(crate) full: Option<&'a str>,
    /// `package.Service`.
    pub(crate) service: Option<&'a str>,
    /// `Method`.
    pub(crate) method: Option<&'a str>,
    /// The path itself.
    pub(crate) path: &'a str,
}

impl<'a> RpcMethod<'a> {
    pub(crate) fn parse(path: &'a str) -> Self {
        let parsed = path.strip_prefix('/').and_then(|full| {
            let (service, method) = full.split_once('/')?;
            let ok = !service.is_empty()
                && !method.is_empty()
                && !method.contains('/')
                && full.bytes().all(|b| b.is_ascii_graphic());
            ok.then_some((full, service, method))
        });
        match parsed {
            Some((full, service, method)) => Self {
                full: Some(full),
                service: Some(service),
                method: Some(method),
                path,
            },
            None => Self {
                full: None,
                service: None,
                method: None,
                path,
            },
        }
    }

    /// The span name: `package.Service/Method`, or `grpc` for an unrecognised method.
    pub(crate) fn span_name(&self) -> &'a str {
        self.full.unwrap_or("grpc")
    }

    /// `rpc.method` under `conventions`.
    pub(crate) fn method_attribute(&self, conventions: RpcConventions) -> &'a str {
        match (conventions.current(), self.full, self.method) {
            (true, Some(full), _) => full,
            (false, _, Some(method)) => method,
            _ => "_OTHER",
        }
    }

    /// `rpc.method_original`, for an unrecognised method.
    pub(crate) fn original(&self) -> Option<&'a str> {
        self.full.is_none().then_some(self.path)
    }
}

/// Whether a health-check or reflection method: not traced unless asked for.
pub(crate) fn is_builtin(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// The canonical name of a status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Which side of a call a span is on: the error mapping differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// Whether `code` makes the span an error: on a client every code but `OK`; on a server only
/// the codes that mean the server failed.
pub(crate) fn is_error(code: Code, side: Side) -> bool {
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}

/// The status a set of headers or trailers carries: `grpc-status` and `grpc-message`
/// (percent-decoded). A `grpc-status` that is not a number is `UNKNOWN`.
pub(crate) fn status_of(headers: &HeaderMap) -> Option<(Code, Option<String>)> {
    let status = headers.get("grpc-status")?;
    let code = std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .map_or(Code::Unknown, Code::from_i32);
    let message = headers
        .get("grpc-message")
        .map(|m| {
            tracewire_propagation::baggage::percent_decode(&String::from_utf8_lossy(m.as_bytes()))
                .into_owned()
        })
        .filter(|m| !m.is_empty());
    Some((code, message))
}

/// The status of a response without `grpc-status`, from its HTTP status, as the gRPC spec maps
/// it ("HTTP to gRPC Status Code Mapping").
pub(crate) fn code_from_http(status: http::StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502..=504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The status an application sees for a transport or body error, as tonic maps it, decided
/// by the error's types down its source chain: a `Status` gives its code, tonic's
/// `TimeoutExpired` (and any timeout) is `CANCELLED`, tonic's `ConnectError` (and a refused or
/// unreachable connection) `UNAVAILABLE`, anything else `UNKNOWN`.
pub(crate) fn code_of_error<E: 'static>(error: &E) -> Code {
    use std::error::Error;
    use tracewire_core::error::{ErrorKind, as_error, kind_of};

    let any = error as &dyn std::any::Any;
    if let Some(status) = any.downcast_ref::<tonic::Status>() {
        return status.code();
    }
    let Some(error) = as_error(error).or_else(|| transport_error(any)) else {
        return Code::Unknown;
    };
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(status) = e.downcast_ref::<tonic::Status>() {
            return status.code();
        }
        if e.is::<tonic::TimeoutExpired>() {
            return Code::Cancelled;
        }
        if e.is::<tonic::ConnectError>() {
            return Code::Unavailable;
        }
        next = e.source();
    }
    match kind_of(error, |_| None) {
        Some(ErrorKind::Timeout) => Code::Cancelled,
        Some(ErrorKind::Connect) => Code::Unavailable,
        _ => Code::Unknown,
    }
}

#[cfg(feature = "transport")]
fn transport_error(any: &dyn std::any::Any) -> Option<&(dyn std::error::Error + 'static)> {
    any.downcast_ref::<tonic::transport::Error>()
        .map(|e| e as &(dyn std::error::Error + 'static))
}

#[cfg(not(feature = "transport"))]
fn transport_error(_: &dyn std::any::Any) -> Option<&(dyn std::error::Error + 'static)> {
    None
}

/// `grpc-timeout` as a duration: 1 to 8 ASCII digits and a unit (`100m`, `5S`, `1H`), as the
/// gRPC wire format writes it; anything else is no deadline.
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<std::time::Duration> {
    use std::time::Duration;
    let value = headers.get("grpc-timeout")?.as_bytes();
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The status a response's headers already give: `grpc-status` (a trailers-only response),
/// or an HTTP status other than 200.
pub(crate) fn response_status<B>(
    response: &http::Response<B>,
) -> Option<(tonic::Code, Option<String>)> {
    status_of(response.headers()).or_else(|| {
        (response.status() != http::StatusCode::OK)
            .then(|| (code_from_http(response.status()), None))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        let m = RpcMethod::parse("/shop.v1.Inventory/Reserve");
        assert_eq!(m.full, Some("shop.v1.Inventory/Reserve"));
        assert_eq!(m.service, Some("shop.v1.Inventory"));
        assert_eq!(
            m.method_attribute(RpcConventions::Current),
            "shop.v1.Inventory/Reserve"
        );
        assert_eq!(m.method_attribute(RpcConventions::Old), "Reserve");
        assert_eq!(
            m.method_attribute(RpcConventions::Both),
            "shop.v1.Inventory/Reserve"
        );
        assert_eq!(m.span_name(), "shop.v1.Inventory/Reserve");
        assert_eq!(m.original(), None);
        for bad in ["/", "/a", "/a/", "//b", "/a/b/c", "a/b", "/a b/c"] {
            let m = RpcMethod::parse(bad);
            assert_eq!(m.full, None, "{bad}");
            assert_eq!(m.span_name(), "grpc");
            assert_eq!(m.method_attribute(RpcConventions::Current), "_OTHER");
            assert_eq!(m.original(), Some(bad));
        }
    }

    #[test]
    fn statuses() {
        let mut h = HeaderMap::new();
        assert_eq!(status_of(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        h.insert("grpc-message", "no%20such%20item%".parse().unwrap());
        assert_eq!(
            status_of(&h),
            Some((Code::NotFound, Some("no such item%".to_owned())))
        );
        h.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(status_of(&h).unwrap().0, Code::Unknown);
        assert_eq!(
            code_from_http(http::StatusCode::NOT_FOUND),
            Code::Unimplemented
        );
        assert_eq!(
            code_from_http(http::StatusCode::SERVICE_UNAVAILABLE),
            Code::Unavailable
        );
        assert_eq!(code_from_http(http::StatusCode::IM_A_TEAPOT), Code::Unknown);
    }

    #[test]
    fn error_mapping_follows_the_table() {
        let server_errors = [
            Code::Unknown,
            Code::DeadlineExceeded,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
        ];
        let mut names = std::collections::HashSet::new();
        for n in 0..=16 {
            let code = Code::from_i32(n);
            assert_eq!(is_error(code, Side::Client), code != Code::Ok, "{code:?}");
            assert_eq!(
                is_error(code, Side::Server),
                server_errors.contains(&code),
                "{code:?}"
            );
            assert!(names.insert(code_name(code)), "names are distinct");
        }
    }

    #[test]
    fn errors_map_by_type() {
        let refused: tower::BoxError = Box::new(tonic::ConnectError(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )));
        assert_eq!(code_of_error(&refused), Code::Unavailable);
        let expired: tower::BoxError = Box::new(tonic::TimeoutExpired(()));
        assert_eq!(code_of_error(&expired), Code::Cancelled);
        let elapsed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(code_of_error(&elapsed), Code::Cancelled);
        assert_eq!(
            code_of_error(&tonic::Status::permission_denied("no")),
            Code::PermissionDenied
        );
        // Words in the message decide nothing.
        let worded: tower::BoxError = "connect timeout, cancelled".into();
        assert_eq!(code_of_error(&worded), Code::Unknown);
    }

    #[test]
    fn timeouts_and_env() {
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(
            grpc_timeout(&h),
            Some(std::time::Duration::from_millis(250))
        );
        h.insert("grpc-timeout", "2S".parse().unwrap());
        assert_eq!(grpc_timeout(&h), Some(std::time::Duration::from_secs(2)));
        h.insert("grpc-timeout", "1234567890S".parse().unwrap());
        assert_eq!(grpc_timeout(&h), None);
        h.insert("grpc-timeout", "5x".parse().unwrap());
        assert_eq!(grpc_timeout(&h), None);
        // The grammar: 1 to 8 ASCII digits and a unit; no sign, no spaces, no empty digits.
        for bad in ["+5S", "-5S", " 5S", "S", "123456789m", "5 S", "٣S"] {
            h.insert(
                "grpc-timeout",
                http::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            );
            assert_eq!(grpc_timeout(&h), None, "{bad}");
        }
        h.insert("grpc-timeout", "99999999H".parse().unwrap());
        assert_eq!(
            grpc_timeout(&h),
            Some(std::time::Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(RpcConventions::parse("rpc"), RpcConventions::Current);
        assert_eq!(
            RpcConventions::parse("rpc/old,rpc/dup"),
            RpcConventions::Both
        );
        assert_eq!(RpcConventions::parse(" RPC/OLD "), RpcConventions::Old);
        assert_eq!(RpcConventions::parse(""), RpcConventions::Current);
    }
}
