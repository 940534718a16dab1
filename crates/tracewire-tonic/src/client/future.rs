use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::call::{Call, Messages};
use crate::metrics::RpcCall;
use tracewire_core::hooks::OnResponse;

pin_project! {
    /// The response future of [`GrpcClient`](super::GrpcClient). Dropped before the response
    /// arrives (the caller cancelled), the call is recorded as `CANCELLED` with the event
    /// `rpc.cancelled` (`DEADLINE_EXCEEDED` when its deadline has passed).
    pub struct ResponseFuture<F, R = ()> {
        #[pin]
        inner: F,
        call: Option<Call>,
        message_events: bool,
        on_response: Option<R>,
        metric: Option<RpcCall>,
    }

    impl<F, R> PinnedDrop for ResponseFuture<F, R> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(call) = this.call.take() {
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
            call: Some(call),
            message_events,
            on_response: Some(on_response),
            metric,
        }
    }

    pub(crate) fn untraced(inner: F, metric: Option<RpcCall>) -> Self {
        Self {
            inner,
            call: None,
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
        let result = ready!(this.inner.poll(cx));
        let call = this.call.take();
        let metric = this.metric.take();
        Poll::Ready(match result {
            Ok(response) => Ok(match call {
                Some(call) => {
                    call.span.add_event("rpc.response.headers");
                    if let Some(hook) = this.on_response.as_mut() {
                        hook.on_response(&response, call.start.elapsed(), &call.span.handle());
                    }
                    // Reading a response body runs no code of the application: no scope.
                    crate::body::for_call(response, Some(call), metric, false, None, || {
                        this.message_events.then(Messages::received)
                    })
                }
                None => crate::body::for_call(response, None, metric, false, None, || None),
            }),
            Err(error) => {
                if let Some(metric) = metric {
                    metric.finish(crate::semconv::code_of_error(&error));
                }
                if let Some(call) = call {
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
            .field("sampled", &self.call.is_some())
            .finish_non_exhaustive()
    }
}
