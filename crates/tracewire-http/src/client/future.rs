use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::ClientSpan;
use crate::body::{ResponseBody, State};
use crate::hooks::OnResponse;

struct Started<R> {
    call: ClientSpan,
    on_response: R,
}

pin_project! {
    /// The response future of [`HttpClient`](super::HttpClient). Dropping it before the
    /// response arrives (a caller's cancellation) ends the span with the event
    /// `http.request.cancelled`; it is not an error.
    pub struct ResponseFuture<F, R> {
        #[pin]
        inner: F,
        sampled: Option<Started<R>>,
    }

    impl<F, R> PinnedDrop for ResponseFuture<F, R> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(s) = this.project().sampled.take() {
                s.call.cancel();
            }
        }
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn started(inner: F, call: ClientSpan, on_response: R) -> Self {
        Self {
            inner,
            sampled: Some(Started { call, on_response }),
        }
    }

    pub(crate) fn untraced(inner: F) -> Self {
        Self {
            inner,
            sampled: None,
        }
    }
}

impl<F, R, B, E> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display + 'static,
    R: OnResponse<B>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let sampled = this.sampled.take();
        Poll::Ready(match result {
            Ok(response) => {
                match sampled {
                    Some(mut s) => {
                        s.call
                            .record_response(response.status(), response.version());
                        if let Some(span) = &s.call.span {
                            s.on_response.on_response(
                                &response,
                                s.call.start.elapsed(),
                                &span.handle(),
                            );
                        }
                        // Reading a response body runs no code of the application.
                        Ok(response.map(|body| s.call.wrap_body(body)))
                    }
                    None => Ok(response
                        .map(|body| crate::body::response_body(body, State::Done, false, None))),
                }
            }
            Err(error) => {
                if let Some(s) = sampled {
                    s.call.fail(&error);
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
            .field("sampled", &self.sampled.is_some())
            .finish()
    }
}
