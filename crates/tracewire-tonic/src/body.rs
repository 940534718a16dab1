//! The bodies of a traced call: the response body ends the span with the call's status, read
//! from the trailers; the request body records message events.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::Context;
use pin_project_lite::pin_project;
use tonic::Code;
use tracewire_core::SampledSpan;
use tracewire_core::body::{BodyState, CallBody, EndOfCall};

use crate::call::{Call, Messages};
use crate::metrics::RpcCall;
use crate::semconv;

/// The response body of the gRPC layers: the core's [`CallBody`] with gRPC's end of call. The
/// call's span ends when the body ends: with the status in its trailers, with `INTERNAL` when
/// it ends without one, or with an error. Dropped before its end, the call is recorded as
/// `CANCELLED` (`DEADLINE_EXCEEDED` when the caller's deadline has passed) with the event
/// `rpc.cancelled`.
pub type ResponseBody<B> = CallBody<B, GrpcEnd>;

/// How a gRPC response ends its call (the [`EndOfCall`] of [`ResponseBody`]): the status from
/// the trailers on the span of a sampled call and in the metrics of every call, and an
/// `rpc.message` event per message with the layers' `message_events`.
#[derive(Debug)]
pub struct GrpcEnd {
    call: Option<Call>,
    metric: Option<RpcCall>,
    messages: Option<Messages>,
}

impl GrpcEnd {
    fn finish(self, code: Code, message: Option<&str>) {
        if let Some(call) = self.call {
            call.finish(code, message);
        }
        if let Some(metric) = self.metric {
            metric.finish(code);
        }
    }
}

impl EndOfCall for GrpcEnd {
    #[inline]
    fn span(&self) -> Option<&SampledSpan> {
        self.call.as_ref().map(|call| &call.span)
    }

    #[inline]
    fn on_data<D: Buf>(&mut self, data: &D) {
        if let (Some(messages), Some(call)) = (&mut self.messages, &self.call) {
            // Every chunk of the frame, in order (tonic's frames are one `Bytes`).
            let mut slices = [std::io::IoSlice::new(&[]); 16];
            let n = data.chunks_vectored(&mut slices);
            for slice in &slices[..n] {
                messages.feed(slice, &call.span);
            }
        }
    }

    fn on_trailers(self, trailers: &http::HeaderMap) {
        let (code, message) = semconv::status_of(trailers).unwrap_or((Code::Internal, None));
        self.finish(code, message.as_deref());
    }

    fn on_end(self) {
        // The body ended without trailers: no status.
        self.finish(Code::Internal, Some("no grpc-status"));
    }

    fn on_error<E: fmt::Display + 'static>(self, error: &E) {
        if let Some(metric) = self.metric {
            metric.finish(semconv::code_of_error(error));
        }
        if let Some(call) = self.call {
            call.fail(error);
        }
    }

    fn on_drop(self) {
        if let Some(call) = self.call {
            call.dropped();
        }
        if let Some(metric) = self.metric {
            metric.dropped();
        }
    }
}

/// The body of a call's response: the call ends now when the headers carry its status (a
/// trailers-only response, or an HTTP error), otherwise with the body. `call` is its span
/// (sampled calls), `metric` its measurement; `scoped` keeps the span current while the body
/// is produced (a server's response stream), `cx` the context of an unsampled call;
/// `messages` counts the messages the body carries.
pub(crate) fn for_call<B>(
    response: http::Response<B>,
    call: Option<Call>,
    metric: Option<RpcCall>,
    scoped: bool,
    cx: Option<Context>,
    messages: impl FnOnce() -> Option<Messages>,
) -> http::Response<ResponseBody<B>> {
    if call.is_none() && metric.is_none() {
        return response.map(|body| untraced(body, cx));
    }
    let state = match semconv::response_status(&response) {
        Some((code, message)) => {
            GrpcEnd {
                call,
                metric,
                messages: None,
            }
            .finish(code, message.as_deref());
            match cx {
                Some(cx) => BodyState::Unsampled(cx, None),
                None => BodyState::Done,
            }
        }
        None => {
            let sampled = call.is_some();
            let end = GrpcEnd {
                call,
                metric,
                messages: if sampled { messages() } else { None },
            };
            match cx {
                Some(cx) if !sampled => BodyState::Unsampled(cx, Some(end)),
                _ if scoped => BodyState::Scoped(end),
                _ => BodyState::Ready(end),
            }
        }
    };
    response.map(|body| CallBody::new(body, state))
}

/// The body of an unsampled call (the context current while it is produced) or an untraced
/// one (`None`), without metrics.
pub(crate) fn untraced<B>(body: B, cx: Option<Context>) -> ResponseBody<B> {
    CallBody::new(
        body,
        cx.map_or(BodyState::Done, |cx| BodyState::Unsampled(cx, None)),
    )
}

pin_project! {
    /// A request body that records an `rpc.message` event per message passing through it
    /// (the layers' `message_events` option).
    pub(crate) struct MessageBody<B> {
        #[pin]
        inner: B,
        span: SampledSpan,
        messages: Messages,
    }
}

impl<B> MessageBody<B> {
    pub(crate) fn new(inner: B, span: SampledSpan, messages: Messages) -> Self {
        Self {
            inner,
            span,
            messages,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for MessageBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let result = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &result
            && let Some(data) = frame.data_ref()
        {
            this.messages.feed(data, this.span);
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
