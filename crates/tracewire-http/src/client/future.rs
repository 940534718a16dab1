use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;

use crate::body::{ResponseBody, State};
use crate::hooks::OnResponse;
use tracewire_core::SampledSpan;

struct Sampled<R> {
    span: SampledSpan,
    on_response: R,
    start: Instant,
}

pin_project! {
    /// The response future of [`HttpClient`](super::HttpClient). Dropping it before the
    /// response arrives (a caller's cancellation) ends the span with the event
    /// `http.request.cancelled`; it is not an error.
    pub struct ResponseFuture<F, R> {
        #[pin]
        inner: F,
        sampled: Option<Sampled<R>>,
    }

    impl<F, R> PinnedDrop for ResponseFuture<F, R> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(s) = this.project().sampled.take() {
                s.span.add_event("http.request.cancelled");
                s.span.end();
            }
        }
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn sampled(inner: F, span: SampledSpan, on_response: R, start: Instant) -> Self {
        Self {
            inner,
            sampled: Some(Sampled {
                span,
                on_response,
                start,
            }),
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
                let state = match sampled {
                    Some(mut s) => {
                        super::record_response(&s.span, response.status(), response.version());
                        s.on_response
                            .on_response(&response, s.start.elapsed(), &s.span.handle());
                        // Reading a response body runs no code of the application.
                        State::SampledReady(s.span)
                    }
                    None => State::Done,
                };
                Ok(response.map(|body| crate::body::response_body(body, state, false)))
            }
            Err(error) => {
                if let Some(s) = sampled {
                    crate::record::record_failure(&s.span, &error);
                    s.span.end();
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
