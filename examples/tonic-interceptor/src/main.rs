//! A generated tonic client without a tower stack: the inject-only interceptor sends the
//! current context, so the server's span continues the caller's trace. (It makes no client
//! span and cannot see the call's status: use `GrpcClientLayer` for that.)
//!
//! `cargo run -p example-tonic-interceptor`

use opentelemetry_like::in_span;
use tonic::transport::{Channel, Server};
use tracewire::grpc::{GrpcServerLayer, TraceContextInterceptor};
use tracewire::init::{Exporter, Setup};

use example_greeter::{GreeterClient, GreeterServer, Hello, HelloRequest, serve};

mod opentelemetry_like {
    /// Runs `f` inside a `tracing` span: the caller's own work, whose context the
    /// interceptor sends.
    pub(crate) async fn in_span<F: std::future::Future>(name: &'static str, f: F) -> F::Output {
        use tracing::Instrument;
        f.instrument(tracing::info_span!("job", otel.name = name))
            .await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("greeter")
        .exporters([Exporter::Tree])
        .install()?;
    let addr = serve(
        Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(GreeterServer::new(Hello)),
    )
    .await?;

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = GreeterClient::with_interceptor(channel, TraceContextInterceptor::new());
    let reply = in_span("nightly job", async {
        client
            .say_hello(HelloRequest {
                name: "interceptor".into(),
            })
            .await
    })
    .await?;
    println!("{}", reply.into_inner().message);
    drop(telemetry);
    Ok(())
}
