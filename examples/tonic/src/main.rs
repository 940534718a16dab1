//! A tonic server and client, each with tracewire's gRPC layer: the client's CLIENT span and
//! the server's SERVER span make one trace, printed as a tree.
//!
//! `cargo run -p example-tonic`

use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tracewire::grpc::{GrpcClientLayer, GrpcServerLayer};
use tracewire::init::{Exporter, Setup};

use example_greeter::{GreeterClient, GreeterServer, Hello, HelloRequest, serve};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .service_name("greeter")
        .exporters([Exporter::Tree])
        .install()?;

    // The server: one layer for every service it hosts.
    let addr = serve(
        Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(GreeterServer::new(Hello)),
    )
    .await?;

    // The client: the layer around the channel.
    let url = format!("http://{addr}");
    let channel = ServiceBuilder::new()
        .layer(GrpcClientLayer::new().target(&url))
        .service(Channel::from_shared(url)?.connect().await?);
    let mut client = GreeterClient::new(channel);
    let reply = client
        .say_hello(HelloRequest {
            name: "tracewire".into(),
        })
        .await?;
    println!("{}", reply.into_inner().message);

    drop(telemetry); // flushes: the tree is printed
    Ok(())
}
