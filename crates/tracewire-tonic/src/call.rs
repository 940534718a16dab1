//! What the server and client layers share: the span of a sampled call, its attributes, its
//! status and its message events.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use opentelemetry::{KeyValue, Value};
use tonic::Code;
use tracewire_core::{CallFacts, SampledSpan};

use crate::config::Config;
use crate::semconv::{self, RpcConventions, RpcMethod, Side};

/// What a call's span is made of, read once from the request.
#[derive(Debug)]
pub(crate) struct CallInfo<'a> {
    pub(crate) method: RpcMethod<'a>,
    pub(crate) server_address: Option<&'a str>,
    pub(crate) server_port: Option<u16>,
    pub(crate) peer: Option<SocketAddr>,
}

impl CallInfo<'_> {
    /// The attributes known at the start of the call, under the layer's conventions.
    pub(crate) fn attributes(&self, config: &Config) -> Vec<KeyValue> {
        let conventions = config.conventions;
        let mut attrs = Vec::with_capacity(6);
        let static_str = |s: &str| -> Value {
            match config.names.host(s) {
                Some(s) => Value::from(s),
                None => Value::from(s.to_owned()),
            }
        };
        if conventions.current() {
            attrs.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc"));
        }
        if conventions.old() {
            attrs.push(KeyValue::new(semconv::RPC_SYSTEM, "grpc"));
            if let Some(service) = self.method.service {
                attrs.push(KeyValue::new(semconv::RPC_SERVICE, static_str(service)));
            }
        }
        attrs.push(KeyValue::new(
            semconv::RPC_METHOD,
            static_str(self.method.method_attribute(conventions)),
        ));
        if let Some(original) = self.method.original() {
            attrs.push(KeyValue::new(
                semconv::RPC_METHOD_ORIGINAL,
                original.to_owned(),
            ));
        }
        if let Some(address) = self.server_address {
            attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, static_str(address)));
        }
        if let Some(port) = self.server_port {
            attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
        if let Some(peer) = self.peer {
            attrs.push(KeyValue::new(
                semconv::NETWORK_PEER_ADDRESS,
                peer.ip().to_string(),
            ));
            attrs.push(KeyValue::new(
                semconv::NETWORK_PEER_PORT,
                i64::from(peer.port()),
            ));
        }
        attrs
    }

    /// The span name, as a static string when the method is known.
    fn name(&self, config: &Config) -> Cow<'static, str> {
        let name = self.method.span_name();
        match config.names.host(name) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(name.to_owned()),
        }
    }

    /// A bridged `tracing` span for the call.
    fn tracing_span(&self, side: Side, conventions: RpcConventions) -> tracing::Span {
        let current = conventions.current();
        let old = conventions.old();
        let method = self.method.method_attribute(conventions);
        let service = if old { self.method.service } else { None };
        let peer_address = self.peer.map(|p| p.ip().to_string());
        let peer_port = self.peer.map(|p| i64::from(p.port()));
        macro_rules! span {
            ($target:literal, $name:literal, $kind:literal) => {
                tracing::info_span!(
                    target: $target,
                    parent: None,
                    $name,
                    otel.name = self.method.span_name(),
                    otel.kind = $kind,
                    otel.status_code = tracing::field::Empty,
                    otel.status_description = tracing::field::Empty,
                    rpc.system.name = current.then_some("grpc"),
                    rpc.system = old.then_some("grpc"),
                    rpc.service = service,
                    rpc.method = method,
                    rpc.method_original = self.method.original(),
                    rpc.response.status_code = tracing::field::Empty,
                    rpc.grpc.status_code = tracing::field::Empty,
                    server.address = self.server_address,
                    server.port = self.server_port.map(i64::from),
                    network.peer.address = peer_address.as_deref(),
                    network.peer.port = peer_port,
                    error.type = tracing::field::Empty,
                )
            };
        }
        match side {
            Side::Server => span!("tracewire::grpc::server", "gRPC server call", "server"),
            Side::Client => span!("tracewire::grpc::client", "gRPC client call", "client"),
        }
    }
}

/// What the core asks of a call, made only when the sampler needs it or the call is sampled.
pub(crate) struct GrpcFacts<'a> {
    pub(crate) info: CallInfo<'a>,
    pub(crate) config: &'a Config,
    pub(crate) side: Side,
}

impl CallFacts for GrpcFacts<'_> {
    fn sampling_name(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.info.method.span_name())
    }

    fn sampling_attributes(&self) -> Vec<KeyValue> {
        self.info.attributes(self.config)
    }

    fn tracing_span(&mut self) -> tracing::Span {
        self.info.tracing_span(self.side, self.config.conventions)
    }

    fn direct_span(&mut self) -> (Cow<'static, str>, Vec<KeyValue>) {
        (
            self.info.name(self.config),
            self.info.attributes(self.config),
        )
    }
}

/// The span of a sampled call until its status is known.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) span: SampledSpan,
    side: Side,
    conventions: RpcConventions,
    /// The caller's deadline (`grpc-timeout`), to tell an expired call from a cancelled one.
    deadline: Option<Instant>,
    /// When the call started (for the response hook's latency).
    pub(crate) start: Instant,
}

impl Call {
    pub(crate) fn new(
        span: SampledSpan,
        side: Side,
        conventions: RpcConventions,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            span,
            side,
            conventions,
            deadline,
            start: Instant::now(),
        }
    }

    /// The caller's deadline.
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Records the status: `rpc.response.status_code` (or `rpc.grpc.status_code`), and for
    /// an error on this side `error.type` and the error status with the status message.
    fn record_code(&self, code: Code, message: Option<&str>) {
        let name = semconv::code_name(code);
        if self.conventions.current() {
            self.span
                .set_static(semconv::RPC_RESPONSE_STATUS_CODE, name);
        }
        if self.conventions.old() {
            self.span
                .set_i64(semconv::RPC_GRPC_STATUS_CODE, code as i64);
        }
        if semconv::is_error(code, self.side) {
            self.span.set_static(semconv::ERROR_TYPE, name);
            self.span.set_error_status(message);
        }
    }

    /// Records the status and ends the span.
    pub(crate) fn finish(self, code: Code, message: Option<&str>) {
        self.record_code(code, message);
        self.span.end();
    }

    /// Ends the span of a call dropped before its end: `DEADLINE_EXCEEDED` when the caller's
    /// deadline has passed, otherwise `CANCELLED` (the event `rpc.cancelled` either way).
    pub(crate) fn dropped(self) {
        let code = dropped_code(self.deadline);
        self.span.add_event("rpc.cancelled");
        self.finish(code, None);
    }

    /// Ends the span of a call that failed with an error rather than a status (a transport
    /// error, a failed body): the status the application will see, an error status, and an
    /// `exception` event.
    pub(crate) fn fail<E: fmt::Display + 'static>(self, error: &E) {
        let code = semconv::code_of_error(error);
        self.record_code(code, None);
        self.span.set_error_status(None);
        self.span.add_event_with(
            "exception",
            vec![
                KeyValue::new("exception.type", std::any::type_name::<E>()),
                KeyValue::new("exception.message", error.to_string()),
            ],
        );
        self.span.end();
    }
}

/// The status of a call dropped before its end: `DEADLINE_EXCEEDED` when the caller's
/// deadline has passed, otherwise `CANCELLED`.
pub(crate) fn dropped_code(deadline: Option<Instant>) -> Code {
    // tonic's server starts its timer for the same `grpc-timeout` a moment before this layer
    // reads it, and its timer fires on a millisecond tick: a call dropped within a few
    // milliseconds of the deadline is taken as expired.
    const SLACK: Duration = Duration::from_millis(5);
    match deadline {
        Some(deadline) if Instant::now() + SLACK >= deadline => Code::DeadlineExceeded,
        _ => Code::Cancelled,
    }
}

/// Counts the gRPC messages of one direction of a call (5-byte prefix, then the payload) and
/// records an `rpc.message` event when each one has passed.
#[derive(Debug)]
pub(crate) struct Messages {
    kind: &'static str,
    next_id: i64,
    header: [u8; 5],
    have: usize,
    remaining: u64,
    in_payload: bool,
}

impl Messages {
    pub(crate) fn sent() -> Self {
        Self::new("SENT")
    }

    pub(crate) fn received() -> Self {
        Self::new("RECEIVED")
    }

    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            next_id: 1,
            header: [0; 5],
            have: 0,
            remaining: 0,
            in_payload: false,
        }
    }

    /// Reads `data`, recording an event on `span` for each message it completes.
    pub(crate) fn feed(&mut self, mut data: &[u8], span: &SampledSpan) {
        while !data.is_empty() {
            if self.in_payload {
                let take = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                data = &data[take..];
            } else {
                let take = data.len().min(5 - self.have);
                self.header[self.have..self.have + take].copy_from_slice(&data[..take]);
                self.have += take;
                data = &data[take..];
                if self.have == 5 {
                    self.have = 0;
                    self.in_payload = true;
                    self.remaining = u64::from(u32::from_be_bytes([
                        self.header[1],
                        self.header[2],
                        self.header[3],
                        self.header[4],
                    ]));
                }
            }
            if self.in_payload && self.remaining == 0 {
                self.in_payload = false;
                self.record(span);
            }
        }
    }

    fn record(&mut self, span: &SampledSpan) {
        let size = i64::from(u32::from_be_bytes([
            self.header[1],
            self.header[2],
            self.header[3],
            self.header[4],
        ]));
        let size_key = if self.header[0] & 1 == 1 {
            "rpc.message.compressed_size"
        } else {
            "rpc.message.uncompressed_size"
        };
        span.add_event_with(
            semconv::RPC_MESSAGE,
            vec![
                KeyValue::new("rpc.message.type", self.kind),
                KeyValue::new("rpc.message.id", self.next_id),
                KeyValue::new(size_key, size),
            ],
        );
        self.next_id += 1;
    }

    /// How many messages have passed.
    #[cfg(test)]
    fn count(&self) -> i64 {
        self.next_id - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_across_any_split() {
        // Three messages: 3 bytes, empty, 2 bytes compressed.
        let mut wire = vec![0, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 0];
        wire.extend([1, 0, 0, 0, 2, b'x', b'y']);
        let span = SampledSpan::Direct(opentelemetry::Context::new());
        for split in 0..wire.len() {
            for split2 in split..wire.len() {
                let mut m = Messages::received();
                m.feed(&wire[..split], &span);
                m.feed(&wire[split..split2], &span);
                m.feed(&wire[split2..], &span);
                assert_eq!(m.count(), 3, "{split} {split2}");
                assert!(!m.in_payload && m.have == 0);
            }
        }
        let mut m = Messages::sent();
        m.feed(&wire[..6], &span);
        assert_eq!(m.count(), 0, "an unfinished message is not counted");
    }
}
