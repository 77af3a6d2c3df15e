//! NATS request-reply, a third transport for the same services: each RPC of the contracts'
//! services is an endpoint of one NATS micro service (so `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` work with the standard tooling), on the subject `{prefix}.{package}.{Service}.{Method}`,
//! in a queue group, so that the instances of a service share its requests and NATS is the
//! balancer.
//!
//! A request is handed to the service as a gRPC call, through the very stack the gRPC server runs
//! (authentication and access rules, validation, deadlines, metrics, traces), so a NATS caller
//! gets exactly what a gRPC caller gets. Its payload is protobuf, or proto3 JSON when its
//! `Content-Type` header says `application/json`; its other headers (`authorization`,
//! `traceparent`, `grpc-timeout`, `x-md-global-*`…) travel as the gRPC call's metadata. An error
//! answers with NATS micro's `Nats-Service-Error` (the message) and `Nats-Service-Error-Code` (the
//! HTTP status), and the whole typed error (code, reason, message, metadata) as JSON in
//! `Micro-Error`.

use std::time::Duration;

use async_nats::service::{self as nats_service, ServiceExt as _};
use async_nats::{HeaderMap as NatsHeaders, Message};
use axum::body::Bytes;
use axum::http::{self, HeaderName, HeaderValue};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::errors::Error;
use crate::gateway::Contracts;

pub use async_nats::{Client, HeaderMap};

/// Connects to NATS as `name` (the crate's, shown by `$SRV.INFO` and the server's monitoring). The
/// connection is made in the background: a service starts while NATS is down, serves over it
/// once connected, and reconnects by itself after an outage.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<Client> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|err| anyhow::anyhow!("connecting to NATS at `{url}`: {err}"))
}

/// The header that carries the whole typed error of a failed call, as JSON.
pub const ERROR_HEADER: &str = "Micro-Error";

/// The queue group every instance of a service joins.
pub const QUEUE_GROUP: &str = "micro";

/// The `Content-Type` of a JSON request or reply; anything else is protobuf.
const JSON: &str = "application/json";

/// What a service serves over NATS.
#[derive(Debug, Clone)]
pub struct Served {
    /// The NATS micro service's name (the crate's), version and description.
    pub name: String,
    pub version: String,
    pub description: String,
    /// The first token of every subject.
    pub prefix: String,
    /// The full names of the services served (`helloworld.v1.Greeter`); the contracts may hold
    /// others, called but not served.
    pub services: Vec<String>,
    /// How long a call may take when its request does not say (`grpc-timeout`).
    pub timeout: Duration,
}

/// The subject of an RPC: `micro.helloworld.v1.Greeter.SayHello` for prefix `micro`.
pub fn subject(prefix: &str, service: &str, method: &str) -> String {
    format!("{prefix}.{service}.{method}")
}

/// Serves the unary RPCs of `served.services` over NATS through `grpc` (the gRPC server's stack
/// around the services), until `shutdown` completes; requests in flight are answered first.
pub async fn serve<S, B>(
    client: async_nats::Client,
    contracts: &'static Contracts,
    served: Served,
    grpc: S,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: std::fmt::Display + Send,
    B: axum::body::HttpBody<Data = Bytes> + Send,
    B::Error: std::fmt::Display,
{
    let pool = contracts.pool()?;
    let service = client
        .clone()
        .service_builder()
        .description(&served.description)
        .queue_group(QUEUE_GROUP)
        .start(&served.name, &served.version)
        .await
        .map_err(|err| anyhow::anyhow!("starting the NATS service `{}`: {err}", served.name))?;
    let mut endpoints = Vec::new();
    for name in &served.services {
        let descriptor = pool
            .get_service_by_name(name)
            .ok_or_else(|| anyhow::anyhow!("`{name}` is not among the contracts' services"))?;
        let group = service.group(format!("{}.{name}", served.prefix));
        for method in descriptor.methods() {
            // Streams have no request-reply form.
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let endpoint = group
                .endpoint_builder()
                .name(method.name())
                .add(method.name())
                .await
                .map_err(|err| anyhow::anyhow!("adding `{}`: {err}", method.full_name()))?;
            let call = Call {
                path: format!("/{name}/{}", method.name()),
                input: method.input().full_name().to_owned(),
                output: method.output().full_name().to_owned(),
                timeout: served.timeout,
            };
            endpoints.push((endpoint, call));
        }
    }

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for (mut endpoint, call) in endpoints {
        let (grpc, mut stopping) = (grpc.clone(), stopping.clone());
        let call = std::sync::Arc::new(call);
        tasks.spawn(async move {
            let mut in_flight = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    request = endpoint.next() => match request {
                        Some(request) => {
                            let (grpc, call) = (grpc.clone(), call.clone());
                            in_flight.spawn(async move {
                                call.answer(grpc, contracts, request).await;
                            });
                        }
                        None => break,
                    },
                    _ = stopping.changed() => break,
                }
                // Finished answers are collected as they go.
                while in_flight.try_join_next().is_some() {}
            }
            // No more requests for this instance; the ones taken are answered.
            let _ = endpoint.stop().await;
            while in_flight.join_next().await.is_some() {}
        });
    }
    shutdown.await;
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    // Leaves discovery too; with every endpoint already stopped, it may find nothing left to do.
    let _ = service.stop().await;
    // Once the server has processed the unsubscriptions, requests go to the other instances (or
    // find no responder at once) instead of waiting on this one. A flush only writes them out,
    // and the server reads each connection on its own, so a message sent to this connection's
    // own inbox and received back is what proves it.
    round_trip(&client)
        .await
        .map_err(|err| anyhow::anyhow!("leaving NATS: {err}"))?;
    Ok(())
}

async fn round_trip(client: &async_nats::Client) -> Result<(), async_nats::Error> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, Bytes::new()).await?;
    client.flush().await?;
    tokio::time::timeout(Duration::from_secs(5), echo.next())
        .await
        .map_err(|_| "no answer from the server within 5 s")?;
    Ok(())
}

/// One RPC as NATS serves it.
struct Call {
    /// `/helloworld.v1.Greeter/SayHello`.
    path: String,
    input: String,
    output: String,
    timeout: Duration,
}

impl Call {
    async fn answer<S, B>(
        &self,
        grpc: S,
        contracts: &'static Contracts,
        request: nats_service::Request,
    ) where
        S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
        S::Error: std::fmt::Display,
        B: axum::body::HttpBody<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let json = is_json(request.message.headers.as_ref());
        let result = self.call(grpc, contracts, &request.message, json).await;
        let mut headers = NatsHeaders::new();
        let answered = match result {
            Ok(payload) => {
                if json {
                    headers.insert("Content-Type", JSON);
                }
                request.respond_with_headers(Ok(payload), headers).await
            }
            Err(err) => {
                if let Ok(typed) = serde_json::to_string(&err) {
                    headers.insert(ERROR_HEADER, typed.as_str());
                }
                let status = nats_service::error::Error {
                    status: err.message.clone(),
                    code: usize::from(err.code),
                };
                request.respond_with_headers(Err(status), headers).await
            }
        };
        if let Err(err) = answered {
            tracing::warn!(error = %err, operation = %self.path, "a NATS reply could not be sent");
        }
    }

    /// The reply's payload, or the typed error, of the gRPC call `message` stands for.
    async fn call<S, B>(
        &self,
        grpc: S,
        contracts: &'static Contracts,
        message: &Message,
        json: bool,
    ) -> Result<Bytes, Error>
    where
        S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
        S::Error: std::fmt::Display,
        B: axum::body::HttpBody<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let protobuf = if json {
            Bytes::from(contracts.json_to_protobuf(&self.input, &message.payload)?)
        } else {
            message.payload.clone()
        };
        let request = self.grpc_request(message.headers.as_ref(), &protobuf)?;
        let response = grpc
            .oneshot(request)
            .await
            .map_err(|err| Error::new(503, "UNAVAILABLE", err.to_string()))?;
        let (parts, body) = response.into_parts();
        let collected = body
            .collect()
            .await
            .map_err(|err| Error::new(500, "INTERNAL", err.to_string()))?;
        // A failed call answers trailers-only: its status is in the headers.
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let status = tonic::Status::from_header_map(&parts.headers)
            .or_else(|| tonic::Status::from_header_map(&trailers))
            .unwrap_or_else(|| tonic::Status::internal("the call ended without a status"));
        if status.code() != tonic::Code::Ok {
            return Err(Error::from(status));
        }
        let reply = unframe(collected.to_bytes())?;
        if json {
            Ok(Bytes::from(
                contracts.protobuf_to_json(&self.output, &reply)?,
            ))
        } else {
            Ok(reply)
        }
    }

    /// The gRPC request for a NATS request: its headers as metadata, its payload as the one
    /// message of the body.
    fn grpc_request(
        &self,
        nats: Option<&NatsHeaders>,
        protobuf: &[u8],
    ) -> Result<http::Request<tonic::body::Body>, Error> {
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("http://nats{}", self.path))
            .version(http::Version::HTTP_2);
        let headers = request.headers_mut().expect("a request under construction");
        for (name, values) in nats.into_iter().flat_map(|h| h.iter()) {
            let lower = name.to_string().to_ascii_lowercase();
            // NATS' own headers, and the ones that describe this body rather than the call.
            if lower.starts_with("nats-") || lower == "content-type" {
                continue;
            }
            let Ok(header) = HeaderName::from_bytes(lower.as_bytes()) else {
                continue;
            };
            for value in values {
                if let Ok(value) = HeaderValue::from_str(value.as_str()) {
                    headers.append(header.clone(), value);
                }
            }
        }
        if !headers.contains_key("grpc-timeout") {
            let timeout = crate::context::grpc_timeout_text(self.timeout);
            if let Ok(value) = HeaderValue::from_str(&timeout) {
                headers.insert("grpc-timeout", value);
            }
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        let mut framed = Vec::with_capacity(protobuf.len() + 5);
        framed.push(0);
        framed.extend_from_slice(
            &u32::try_from(protobuf.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        framed.extend_from_slice(protobuf);
        request
            .body(tonic::body::Body::new(http_body_util::Full::new(
                Bytes::from(framed),
            )))
            .map_err(|err| Error::new(400, "BAD_REQUEST", err.to_string()))
    }
}

fn is_json(headers: Option<&NatsHeaders>) -> bool {
    headers
        .and_then(|headers| headers.get("Content-Type"))
        .is_some_and(|value| value.as_str().starts_with(JSON))
}

/// The one message of a unary reply's body (a 5-byte gRPC frame header, then the message).
fn unframe(body: Bytes) -> Result<Bytes, Error> {
    if body.len() < 5 || body[0] != 0 {
        return Err(Error::new(
            500,
            "INTERNAL",
            "the reply is not one uncompressed gRPC message",
        ));
    }
    Ok(body.slice(5..))
}

/// The headers of a call: `headers`, and with `forward_bearer` the served request's bearer token,
/// so that the callee sees the user the call is made for.
pub fn outgoing(headers: &NatsHeaders, forward_bearer: bool) -> NatsHeaders {
    let mut outgoing = headers.clone();
    if forward_bearer
        && let Some(context) = crate::context::RequestContext::current()
        && let Some(bearer) = context.bearer.as_ref().and_then(|b| b.to_str().ok())
    {
        outgoing.insert("authorization", bearer);
    }
    outgoing
}

/// Calls an RPC over NATS: `request` as protobuf to `subject`, within `timeout`; the reply, or the
/// typed error the service answered (or `503 UNAVAILABLE` when no instance answers,
/// `504 TIMEOUT` when none does in time). `headers` go with it (a bearer token, say). Made while
/// serving a request, the call gets no more than what is left of that request's deadline, and its
/// `x-md-global-*` metadata.
pub async fn call<Req: prost::Message, Rep: prost::Message + Default>(
    client: &async_nats::Client,
    subject: &str,
    request: &Req,
    mut headers: NatsHeaders,
    mut timeout: Duration,
) -> Result<Rep, Error> {
    if let Some(context) = crate::context::RequestContext::current() {
        let left = context
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        timeout = timeout.min(left);
        for (name, value) in &context.global_metadata {
            if let Ok(value) = value.to_str() {
                headers.insert(name.as_str(), value);
            }
        }
    }
    headers.insert(
        "grpc-timeout",
        crate::context::grpc_timeout_text(timeout).as_str(),
    );
    let sent =
        client.request_with_headers(subject.to_owned(), headers, request.encode_to_vec().into());
    let reply = match tokio::time::timeout(timeout, sent).await {
        Err(_) => {
            return Err(Error::new(
                504,
                "TIMEOUT",
                format!("no reply from `{subject}` in time"),
            ));
        }
        Ok(Err(err)) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Err(Error::new(
                503,
                "UNAVAILABLE",
                format!("no instance serves `{subject}`"),
            ));
        }
        Ok(Err(err)) => return Err(Error::new(503, "UNAVAILABLE", err.to_string())),
        Ok(Ok(reply)) => reply,
    };
    if let Some(headers) = &reply.headers
        && let Some(code) = headers.get(nats_service::NATS_SERVICE_ERROR_CODE)
    {
        if let Some(typed) = headers.get(ERROR_HEADER)
            && let Ok(err) = serde_json::from_str::<Error>(typed.as_str())
        {
            return Err(err);
        }
        let message = headers
            .get(nats_service::NATS_SERVICE_ERROR)
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        return Err(Error::new(
            code.as_str().parse().unwrap_or(500),
            "",
            message,
        ));
    }
    Rep::decode(reply.payload).map_err(|err| Error::new(500, "CODEC", err.to_string()))
}
