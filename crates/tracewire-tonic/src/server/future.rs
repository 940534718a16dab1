use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::call::{Call, Messages};
use crate::metrics::RpcCall;
use tracewire_core::hooks::OnResponse;

enum Mode {
    Sampled(Call),
    Unsampled(Context),
    Done,
}

pin_project! {
    /// The response future of [`GrpcServer`](super::GrpcServer). Dropped before the response
    /// (the caller went away, or its deadline expired), the call is recorded as `CANCELLED`
    /// or `DEADLINE_EXCEEDED`.
    pub struct ResponseFuture<F, R = ()> {
        #[pin]
        inner: F,
        mode: Mode,
        message_events: bool,
        on_response: Option<R>,
        metric: Option<RpcCall>,
    }

    impl<F, R> PinnedDrop for ResponseFuture<F, R> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Mode::Sampled(call) = std::mem::replace(this.mode, Mode::Done) {
                call.dropped();
            }
            if let Some(metric) = this.metric.take() {
                metric.dropped();
            }
        }
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn sampled(
        inner: F,
        call: Call,
        message_events: bool,
        on_response: R,
        metric: Option<RpcCall>,
    ) -> Self {
        Self {
            inner,
            mode: Mode::Sampled(call),
            message_events,
            on_response: Some(on_response),
            metric,
        }
    }

    pub(crate) fn unsampled(inner: F, cx: Context, metric: Option<RpcCall>) -> Self {
        Self {
            inner,
            mode: Mode::Unsampled(cx),
            message_events: false,
            on_response: None,
            metric,
        }
    }
}

impl<F, R, B, E> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display + fmt::Debug + 'static,
    R: OnResponse<B>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let result = match this.mode {
            Mode::Sampled(call) => ready!(call.span.in_scope(|| inner.as_mut().poll(cx))),
            Mode::Unsampled(otel_cx) => {
                let _guard = otel_cx.clone().attach();
                ready!(inner.as_mut().poll(cx))
            }
            Mode::Done => ready!(inner.as_mut().poll(cx)),
        };
        let mode = std::mem::replace(this.mode, Mode::Done);
        let metric = this.metric.take();
        Poll::Ready(match result {
            Ok(response) => Ok(match mode {
                Mode::Sampled(call) => {
                    if let Some(hook) = this.on_response.as_mut() {
                        hook.on_response(&response, call.start.elapsed(), &call.span.handle());
                    }
                    crate::body::for_call(response, Some(call), metric, true, None, || {
                        this.message_events.then(Messages::sent)
                    })
                }
                Mode::Unsampled(otel_cx) => {
                    crate::body::for_call(response, None, metric, true, Some(otel_cx), || None)
                }
                Mode::Done => crate::body::for_call(response, None, metric, true, None, || None),
            }),
            Err(error) => {
                if let Some(metric) = metric {
                    metric.finish(crate::semconv::code_of_error(&error));
                }
                if let Mode::Sampled(call) = mode {
                    call.fail(&error);
                }
                Err(error)
            }
        })
    }
}

impl<F: fmt::Debug, R> fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("sampled", &matches!(self.mode, Mode::Sampled(_)))
            .finish_non_exhaustive()
    }
}
