//! The bodies of a traced call: the response body ends the span with the call's status, read
//! from the trailers; the request body records message events.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::Context;
use pin_project_lite::pin_project;
use tonic::Code;
use tracewire_core::SampledSpan;

use crate::call::{Call, Messages};
use crate::semconv;

pub(crate) enum State {
    /// The span ends with the body, and is current while the body is produced (a server's
    /// response stream runs the application's code).
    Sampled(Call),
    /// The span ends with the body; reading it runs no application code (a client's
    /// response).
    SampledReady(Call),
    /// The context stays current while the body is produced.
    Unsampled(Context),
    Done,
}

pin_project! {
    /// The response body of the gRPC layers. The call's span ends when the body ends: with the
    /// status in its trailers, with `INTERNAL` when it ends without one, or with an error.
    /// Dropped before its end, the call is recorded as `CANCELLED` (`DEADLINE_EXCEEDED` when
    /// the caller's deadline has passed) with the event `rpc.cancelled`.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        state: State,
        messages: Option<Messages>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let State::Sampled(call) | State::SampledReady(call) =
                std::mem::replace(this.state, State::Done)
            {
                call.dropped();
            }
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, state: State, messages: Option<Messages>) -> Self {
        Self {
            inner,
            state,
            messages,
        }
    }

    /// The body of a sampled call's response: the call ends now when the headers carry its
    /// status (a trailers-only response, or an HTTP error), otherwise with the body. `scoped`
    /// keeps the span current while the body is produced (a server's response stream);
    /// `messages` counts the messages the body carries.
    pub(crate) fn for_call(
        response: http::Response<B>,
        call: Call,
        scoped: bool,
        messages: impl FnOnce() -> Option<Messages>,
    ) -> http::Response<Self> {
        let (state, messages) = match semconv::response_status(&response) {
            Some((code, message)) => {
                call.finish(code, message.as_deref());
                (State::Done, None)
            }
            None if scoped => (State::Sampled(call), messages()),
            None => (State::SampledReady(call), messages()),
        };
        response.map(|body| Self::new(body, state, messages))
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display + fmt::Debug + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let result = match this.state {
            State::Sampled(call) => call.span.in_scope(|| this.inner.as_mut().poll_frame(cx)),
            State::Unsampled(otel_cx) => {
                let _guard = otel_cx.clone().attach();
                this.inner.as_mut().poll_frame(cx)
            }
            State::SampledReady(_) | State::Done => this.inner.as_mut().poll_frame(cx),
        };
        let call = match this.state {
            State::Sampled(call) | State::SampledReady(call) => call,
            State::Unsampled(_) => {
                if matches!(result, Poll::Ready(None | Some(Err(_)))) {
                    *this.state = State::Done;
                }
                return result;
            }
            State::Done => return result,
        };
        match &result {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(messages) = this.messages {
                        messages.feed(data, &call.span);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    let (code, message) =
                        semconv::status_of(trailers).unwrap_or((Code::Internal, None));
                    if let State::Sampled(call) | State::SampledReady(call) =
                        std::mem::replace(this.state, State::Done)
                    {
                        call.finish(code, message.as_deref());
                    }
                }
            }
            Poll::Ready(Some(Err(error))) => {
                if let State::Sampled(call) | State::SampledReady(call) =
                    std::mem::replace(this.state, State::Done)
                {
                    call.fail(error);
                }
            }
            Poll::Ready(None) => {
                // The body ended without trailers: no status.
                if let State::Sampled(call) | State::SampledReady(call) =
                    std::mem::replace(this.state, State::Done)
                {
                    call.finish(Code::Internal, Some("no grpc-status"));
                }
            }
            Poll::Pending => {}
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

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("active", &!matches!(self.state, State::Done))
            .finish()
    }
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
