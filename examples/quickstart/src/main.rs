//! Two axum services, `frontend` calling `users` through reqwest, traced by the layers the
//! set-up wires; the request's trace is printed as a tree. `cargo run -p example-quickstart`
use axum::{Router, extract::Path, routing::get};
use reqwest_middleware::ClientWithMiddleware as Client;
use std::net::SocketAddr;
use tracewire::init::{Exporter, Setup};

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

async fn profile(client: Client, users: SocketAddr, id: u32) -> reqwest_middleware::Result<String> {
    let url = format!("http://{users}/users/{id}");
    Ok(client.get(url).send().await?.text().await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new().exporters([Exporter::Tree]).install()?; // trees on stdout
    let user = |Path(id): Path<u32>| async move { format!("user {id}") };
    let users = Router::new().route("/users/{id}", get(user));
    let users = serve(users.layer(telemetry.http_server_layer())).await?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(telemetry.reqwest_middleware())
        .build();
    let front = move |Path(id): Path<u32>| async move {
        profile(client, users, id).await.map_err(|e| e.to_string())
    };
    let frontend = Router::new().route("/profile/{id}", get(front));
    let frontend = serve(frontend.layer(telemetry.http_server_layer())).await?;
    let body = reqwest::get(format!("http://{frontend}/profile/7")).await?;
    println!("GET /profile/7 -> {}\n", body.text().await?);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await; // the tree prints at the end
    Ok(())
}
