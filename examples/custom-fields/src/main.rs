//! A custom context field: a tenant id that arrives in an `x-tenant-id` header, is read as a
//! typed value anywhere in the request (`Context::current().get::<TenantId>()`), and travels
//! on through HTTP (reqwest) and gRPC (tonic) to every hop.
//!
//! `cargo run -p example-custom-fields`

use axum::Router;
use axum::routing::get;
use opentelemetry::Context;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tracewire::grpc::{GrpcClientLayer, GrpcServerLayer};
use tracewire::http::{HttpClientLayer, HttpServerLayer};
use tracewire::init::{Exporter, Setup};
use tracewire::propagation::Propagator;
use tracewire::propagation::fields::HeaderField;
use tracewire::reqwest::TracingMiddleware;

use example_greeter::{Greeter, GreeterClient, GreeterServer, HelloReply, HelloRequest, serve};

/// The field's type: one value per type in the `Context`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TenantId(String);

fn propagator() -> Propagator {
    Propagator::new().with_field(HeaderField::new(
        "x-tenant-id",
        |s: &str| Some(TenantId(s.to_owned())),
        |t: &TenantId| Some(t.0.clone()),
    ))
}

fn tenant() -> String {
    Context::current()
        .get::<TenantId>()
        .map_or_else(|| "none".to_owned(), |t| t.0.clone())
}

/// A greeter that tells which tenant it is working for.
#[derive(Debug, Default)]
struct TenantAware;

#[tonic::async_trait]
impl Greeter for TenantAware {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        // The last hop still knows the tenant.
        Ok(tonic::Response::new(HelloReply {
            message: format!(
                "hello {} (grpc sees tenant {})",
                request.into_inner().name,
                tenant()
            ),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("tenants")
        .exporters([Exporter::Tree])
        .install()?;

    // gRPC backend.
    let addr = serve(
        Server::builder()
            .layer(GrpcServerLayer::new().propagator(propagator()))
            .add_service(GreeterServer::new(TenantAware)),
    )
    .await?;
    let grpc = format!("http://{addr}");

    // An HTTP service that calls the backend.
    let backend = GreeterClient::new(
        ServiceBuilder::new()
            .layer(
                GrpcClientLayer::new()
                    .propagator(propagator())
                    .target(&grpc),
            )
            .service(Channel::from_shared(grpc)?.connect_lazy()),
    );
    let app = Router::new()
        .route(
            "/hello",
            get(move || {
                let mut backend = backend.clone();
                async move {
                    let reply = backend
                        .say_hello(HelloRequest {
                            name: "http".into(),
                        })
                        .await
                        .map(|r| r.into_inner().message)
                        .unwrap_or_else(|s| s.message().to_owned());
                    format!("http sees tenant {}; {reply}", tenant())
                }
            }),
        )
        .layer(HttpServerLayer::new().propagator(propagator()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A traced caller that works for tenant "acme".
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::from_layer(
            &HttpClientLayer::new().propagator(propagator()),
        ))
        .build();
    use opentelemetry::context::FutureExt as _;
    let cx = Context::current().with_value(TenantId("acme".into()));
    let body = client
        .get(format!("http://{http}/hello"))
        .send()
        .with_context(cx)
        .await?
        .text()
        .await?;
    println!("{body}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(telemetry);
    Ok(())
}
