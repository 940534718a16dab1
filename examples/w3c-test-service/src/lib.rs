//! The W3C trace-context test suite's service contract: on `POST /` with a JSON list of
//! `{"url": .., "arguments": ..}`, POST each `arguments` as JSON to each `url`, in order, one
//! client span per call, continuing the incoming context, and answer only after every call
//! returned.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use tracewire::http::{HttpClientLayer, HttpServerLayer};
use tracewire::propagation::Propagator;
use tracewire::reqwest::TracingMiddleware;

/// The service, reading and writing context with `propagator`.
pub fn app(propagator: Propagator) -> Router {
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::from_layer(
            &HttpClientLayer::new()
                .propagator(propagator.clone())
                // The test suite checks that baggage passes through.
                .send_baggage_to(|_: &axum::http::Uri| true),
        ))
        .build();
    Router::new()
        .route("/", post(calls))
        .with_state(client)
        .layer(HttpServerLayer::new().propagator(propagator))
}

async fn calls(
    State(client): State<reqwest_middleware::ClientWithMiddleware>,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(serde_json::Value::Array(calls)) = serde_json::from_slice(&body) else {
        return (StatusCode::BAD_REQUEST, "expected a JSON list".to_owned());
    };
    for call in calls {
        let Some(url) = call.get("url").and_then(|u| u.as_str()) else {
            return (StatusCode::BAD_REQUEST, "a call without a url".to_owned());
        };
        let arguments = call.get("arguments").cloned().unwrap_or_default();
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(arguments.to_string())
            .send()
            .await;
        if let Ok(response) = sent {
            // Read the answer: the client span lasts until its body ends.
            let _ = response.bytes().await;
        }
    }
    (StatusCode::OK, String::new())
}
