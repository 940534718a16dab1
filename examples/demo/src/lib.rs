//! The demo's three services, wired with tracewire's layers, and the orders it sends through
//! them: `frontend` (axum) reserves stock from `inventory` (tonic) and charges the card at
//! `payments` (axum, called with reqwest). Used by `main.rs` and by the end-to-end tests.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tracewire::grpc::{GrpcClientLayer, GrpcServerLayer};
use tracewire::http::{HttpClientLayer, HttpServerLayer};
use tracewire::propagation::Propagator;
use tracewire::propagation::fields::HeaderField;
use tracewire::reqwest::TracingMiddleware;

/// The generated inventory code.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]
pub mod pb {
    tonic::include_proto!("inventory");
}

mod table;

pub use table::{RouteTable, Row, TableExporter};

use pb::inventory_client::InventoryClient;
use pb::inventory_server::{Inventory, InventoryServer};
use pb::{ReserveReply, ReserveRequest};

/// The tenant a request is made for: a custom context field that travels in its own
/// `x-tenant-id` header through every hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantId(pub String);

/// The propagator every service uses: W3C trace context, baggage, and the tenant field.
pub fn propagator(base: Propagator) -> Propagator {
    base.with_field(HeaderField::new(
        "x-tenant-id",
        |s: &str| Some(TenantId(s.to_owned())),
        |t: &TenantId| Some(t.0.clone()),
    ))
}

/// Records the tenant and the `user.tier` baggage member (when the request carries them) on
/// the current span.
fn note_tenant() {
    use opentelemetry::baggage::BaggageExt;
    let cx = Context::current();
    if let Some(tenant) = cx.get::<TenantId>() {
        cx.span()
            .set_attribute(KeyValue::new("tenant.id", tenant.0.clone()));
    }
    if let Some(tier) = cx.baggage().get("user.tier") {
        cx.span()
            .set_attribute(KeyValue::new("user.tier", tier.to_string()));
    }
}

/// The tracer provider of each service (each with its own `service.name`), and their meter
/// providers (`None`: the global one).
#[derive(Clone, Debug)]
pub struct Providers {
    /// `frontend`.
    pub frontend: SdkTracerProvider,
    /// `inventory`.
    pub inventory: SdkTracerProvider,
    /// `payments`.
    pub payments: SdkTracerProvider,
    /// The meter providers, in the same order.
    pub meters: Option<[SdkMeterProvider; 3]>,
}

/// `layer` with the meter provider `meters[i]` when there are meter providers.
macro_rules! meters {
    ($layer:expr, $providers:expr, $i:expr) => {
        match &$providers.meters {
            Some(meters) => $layer.meter_provider(&meters[$i]),
            None => $layer,
        }
    };
}

/// The running services.
#[derive(Clone, Copy, Debug)]
pub struct Topology {
    /// The frontend's address: `POST /orders?sku=..&card=..`.
    pub frontend: SocketAddr,
    /// The inventory service's address.
    pub inventory: SocketAddr,
    /// The payments service's address.
    pub payments: SocketAddr,
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    (listener, addr)
}

fn query(raw: &Option<String>, key: &str) -> Option<String> {
    raw.as_deref()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

// ---- payments (axum) ----

async fn charge(RawQuery(raw): RawQuery) -> (StatusCode, &'static str) {
    note_tenant();
    let card = query(&raw, "card").unwrap_or_default();
    tracing::info!(%card, "charging");
    match card.as_str() {
        "4000000000000002" => {
            Context::current()
                .span()
                .set_attribute(KeyValue::new("payment.error", "card_declined"));
            (StatusCode::INTERNAL_SERVER_ERROR, "card_declined")
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(250)).await;
            (StatusCode::OK, "charged")
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(3)).await;
            (StatusCode::OK, "charged")
        }
    }
}

// ---- inventory (tonic) ----

#[derive(Debug, Default)]
struct Stock;

#[tonic::async_trait]
impl Inventory for Stock {
    async fn reserve(
        &self,
        request: tonic::Request<ReserveRequest>,
    ) -> Result<tonic::Response<ReserveReply>, tonic::Status> {
        note_tenant();
        let request = request.into_inner();
        tracing::info!(sku = %request.sku, "reserving");
        if request.quantity == 0 {
            return Err(tonic::Status::invalid_argument("quantity must be positive"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(tonic::Response::new(ReserveReply {
            reservation: format!("r-{}-{}", request.sku, request.quantity),
        }))
    }
}

// ---- frontend (axum) ----

#[derive(Clone)]
struct Frontend {
    inventory: InventoryClient<tracewire::grpc::client::GrpcClient<Channel>>,
    payments: reqwest_middleware::ClientWithMiddleware,
    payments_url: String,
}

async fn order(State(front): State<Frontend>, RawQuery(raw): RawQuery) -> (StatusCode, String) {
    note_tenant();
    let sku = query(&raw, "sku").unwrap_or_else(|| "book".to_owned());
    let card = query(&raw, "card").unwrap_or_default();
    let reservation = match front
        .inventory
        .clone()
        .reserve(ReserveRequest { sku, quantity: 1 })
        .await
    {
        Ok(reply) => reply.into_inner().reservation,
        Err(status) => return (StatusCode::CONFLICT, status.message().to_owned()),
    };
    let charged = front
        .payments
        .post(format!("{}/charge?card={card}", front.payments_url))
        .send()
        .await;
    match charged {
        Ok(response) if response.status().is_success() => {
            tracing::info!(%reservation, "order placed");
            (StatusCode::OK, reservation)
        }
        Ok(response) => {
            let why = response.text().await.unwrap_or_default();
            tracing::warn!(%why, "payment failed");
            (StatusCode::BAD_GATEWAY, format!("payment failed: {why}"))
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()),
    }
}

/// Starts the three services on loopback, each traced with its own provider (direct mode)
/// and `propagator`.
pub async fn start(providers: &Providers, propagator: &Propagator) -> Topology {
    // payments
    let (payments_listener, payments) = listener().await;
    let app = Router::new().route("/charge", post(charge)).layer(
        meters!(HttpServerLayer::new(), providers, 2)
            .tracer_provider(&providers.payments)
            .propagator(propagator.clone()),
    );
    tokio::spawn(async move {
        let _ = axum::serve(payments_listener, app).await;
    });

    // inventory
    let (inventory_listener, inventory) = listener().await;
    let server = Server::builder()
        .layer(
            meters!(GrpcServerLayer::new(), providers, 1)
                .tracer_provider(&providers.inventory)
                .propagator(propagator.clone()),
        )
        .add_service(InventoryServer::new(Stock));
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(inventory_listener);
        let _ = server.serve_with_incoming(incoming).await;
    });

    // frontend
    let inventory_url = format!("http://{inventory}");
    let channel = Channel::from_shared(inventory_url.clone())
        .expect("a valid URL")
        .connect_lazy();
    let channel = ServiceBuilder::new()
        .layer(
            meters!(GrpcClientLayer::new(), providers, 0)
                .tracer_provider(&providers.frontend)
                .propagator(propagator.clone())
                .send_baggage(true)
                .target(&inventory_url),
        )
        .service(channel);
    let payments_client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::from_layer(
            &meters!(HttpClientLayer::new(), providers, 0)
                .tracer_provider(&providers.frontend)
                .propagator(propagator.clone())
                // Our own payments service: baggage may go there.
                .send_baggage_to(|uri: &http::Uri| uri.host() == Some("127.0.0.1")),
        ))
        .build();
    let front = Frontend {
        inventory: InventoryClient::new(channel),
        payments: payments_client,
        payments_url: format!("http://{payments}"),
    };
    let (frontend_listener, frontend) = listener().await;
    let app = Router::new()
        .route("/orders", post(order))
        .with_state(front)
        .layer(
            meters!(HttpServerLayer::new(), providers, 0)
                .tracer_provider(&providers.frontend)
                .propagator(propagator.clone()),
        );
    tokio::spawn(async move {
        let _ = axum::serve(frontend_listener, app).await;
    });

    Topology {
        frontend,
        inventory,
        payments,
    }
}

/// One of the demo's orders: what is sent to the frontend.
#[derive(Clone, Copy, Debug)]
pub struct Order {
    /// What it shows.
    pub label: &'static str,
    /// The query string of `POST /orders`.
    pub query: &'static str,
    /// Extra request headers (baggage, the tenant field).
    pub headers: &'static [(&'static str, &'static str)],
}

/// The demo's orders: a normal one, one that fails deep down with a 5xx, a slow one, and one
/// carrying baggage and a tenant.
pub const ORDERS: [Order; 4] = [
    Order {
        label: "a normal order",
        query: "sku=book&card=4242424242424242",
        headers: &[],
    },
    Order {
        label: "a declined card: payments answers 500, the frontend 502",
        query: "sku=lamp&card=4000000000000002",
        headers: &[],
    },
    Order {
        label: "a slow payment",
        query: "sku=desk&card=slow",
        headers: &[],
    },
    Order {
        label: "with baggage and a tenant",
        query: "sku=chair&card=4242424242424242",
        headers: &[("baggage", "user.tier=gold"), ("x-tenant-id", "acme")],
    },
];

/// Sends `order` to the frontend (as an outside caller, without tracing); returns the status.
pub async fn send(client: &reqwest::Client, topology: &Topology, order: &Order) -> u16 {
    let mut request = client.post(format!(
        "http://{}/orders?{}",
        topology.frontend, order.query
    ));
    for (name, value) in order.headers {
        request = request.header(*name, *value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            status
        }
        Err(_) => 0,
    }
}
