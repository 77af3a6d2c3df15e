//! Clients for `discovery:///name` targets: the live instances of `name` from the registry, a
//! choice among them per request by the power of two choices, and traffic that follows the
//! registry (a new instance gets calls without a restart; one that leaves gets none). Governed
//! clients add what every call between services needs: a deadline (what is left of the request
//! being served), kratos' circuit breaker, safe retries, the trace and metadata carried on, and
//! client metrics.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::time::Instant;
use tonic::codegen::http;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt as _;
use tower::balance::p2c::Balance;
use tower::buffer::Buffer;
use tower::discover::Change as DiscoverChange;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::util::BoxCloneSyncService;

use super::{Registry, ServiceInstance, backoff_from, discovered_name};
use crate::breaker::{Breaker, BreakerConfig, is_unhealthy};
use crate::context::{RequestContext, grpc_timeout_text, parse_grpc_timeout};
use crate::errors::{Error, grpc_code_in_headers, http_code};
use crate::gateway;
use crate::metrics;

/// How long connecting to one instance may take before the call fails over.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The transport of gRPC clients made here: one channel to a URL, or a balancer over the
/// instances of a discovered service; both clone cheaply and share their connections.
pub type GrpcChannel = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// Why a call through a [`GrpcChannel`] got no answer (no connection, the balancer gone). A named
/// type rather than a boxed error, so futures that hold one stay `Send` as the compiler can see.
#[derive(Debug)]
pub struct TransportError(tower::BoxError);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A gRPC channel to `target`. For `discovery:///name`, tower's power-of-two-choices balancer
/// (by requests in flight) over a connection to each of `name`'s `grpc://` endpoints, fed by the
/// registry's watch, where an instance whose connection fails sits out for a while; for a URL
/// (`http://host:9000`), a channel to it. Both connect lazily: building one never waits for a
/// peer.
pub fn grpc_channel(registry: &Registry, target: &str) -> anyhow::Result<GrpcChannel> {
    Ok(channel_and_instances(registry, target)?.0)
}

/// [`grpc_channel`], and for `discovery:///name` the instances it currently spreads over.
fn channel_and_instances(
    registry: &Registry,
    target: &str,
) -> anyhow::Result<(GrpcChannel, Option<LiveInstances>)> {
    let Some(name) = discovered_name(target) else {
        let endpoint = Endpoint::from_shared(target.to_owned())
            .with_context(|| format!("`{target}` is neither a URL nor `discovery:///name`"))?;
        let channel = endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy();
        let channel = channel.map_err(|err| TransportError(err.into()));
        return Ok((BoxCloneSyncService::new(channel), None));
    };
    if matches!(registry, Registry::None) {
        anyhow::bail!(
            "`{target}` needs a registry, and `registry.kind` is `none`\nhint: set `registry.kind` (etcd, static or dns), or call the service by URL"
        );
    }
    let (changes, discovered) = tokio::sync::mpsc::channel(64);
    let discovered = Box::pin(futures_util::stream::unfold(
        discovered,
        |mut discovered| async move {
            // A registry that says no more (a static list) leaves the instances as they are.
            let Some(change) = discovered.recv().await else {
                return std::future::pending().await;
            };
            Some((Ok::<_, std::convert::Infallible>(change), discovered))
        },
    ));
    let balancer = Buffer::new(Balance::new(discovered), 1024);
    let live = LiveInstances {
        name: name.to_owned(),
        health: Arc::new(Mutex::new(BTreeMap::new())),
        since: Instant::now(),
    };
    let mut instances = registry.watch(name);
    let health = Arc::clone(&live.health);
    let name = name.to_owned();
    tokio::spawn(async move {
        // Instance id → the `host:port` its connection goes to.
        let mut current: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let next: BTreeMap<String, String> = instances
                .borrow_and_update()
                .iter()
                .filter_map(|i| Some((i.id.clone(), i.endpoint("grpc")?.to_owned())))
                .collect();
            let mut updates = Vec::new();
            for (id, _) in current
                .iter()
                .filter(|(id, addr)| next.get(*id) != Some(*addr))
            {
                lock(&health).remove(id);
                updates.push(DiscoverChange::Remove(id.clone()));
            }
            for (id, addr) in next
                .iter()
                .filter(|(id, addr)| current.get(*id) != Some(*addr))
            {
                match Endpoint::from_shared(format!("http://{addr}")) {
                    Ok(endpoint) => {
                        let instance =
                            Instance::new(endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy());
                        lock(&health).insert(id.clone(), Arc::clone(&instance.health));
                        let loaded = PendingRequests::new(instance, CompleteOnResponse::default());
                        updates.push(DiscoverChange::Insert(id.clone(), loaded));
                    }
                    Err(err) => {
                        tracing::warn!(service = %name, %addr, %err, "skipping an instance with a bad endpoint")
                    }
                }
            }
            for update in updates {
                if changes.send(update).await.is_err() {
                    return; // the balancer is gone
                }
            }
            current = next;
            if instances.changed().await.is_err() {
                return;
            }
        }
    });
    let balancer = balancer.map_err(TransportError);
    Ok((BoxCloneSyncService::new(balancer), Some(live)))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long an instance whose connection failed sits out first, and at most while it keeps
/// failing (a dead instance's record stays until its lease expires).
const EJECTION: Duration = Duration::from_secs(1);
const MAX_EJECTION: Duration = Duration::from_secs(10);

/// Whether an instance may be chosen: transport failures in a row, and until when it sits out.
#[derive(Debug, Default)]
struct Health {
    failures: u32,
    ejected_until: Option<Instant>,
}

impl Health {
    fn ejected(&self) -> bool {
        self.ejected_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// A call could not reach the instance: it sits out, longer each time in a row.
    fn failed(&mut self) {
        let sit_out = backoff_from(EJECTION, self.failures, MAX_EJECTION);
        self.failures += 1;
        self.ejected_until = Some(Instant::now() + sit_out);
    }
}

/// One instance's connection in a discovered balancer. A transport failure (refused, reset)
/// makes it not ready for a while, so the balancer leaves it out: balancing by requests in
/// flight, an instance that fails at once would otherwise look the least loaded and win.
/// Errors the callee answers (a gRPC status) are not transport failures.
struct Instance {
    channel: Channel,
    health: Arc<Mutex<Health>>,
    sitting_out: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Instance {
    fn new(channel: Channel) -> Self {
        Instance {
            channel,
            health: Arc::default(),
            sitting_out: None,
        }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Instance {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = ResponseFuture<tonic::transport::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let until = lock(&self.health).ejected_until;
        if let Some(until) = until.filter(|until| Instant::now() < *until) {
            let sleep = self
                .sitting_out
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
            if sleep.deadline() != until {
                sleep.as_mut().reset(until);
            }
            std::task::ready!(sleep.as_mut().poll(cx));
        }
        self.sitting_out = None;
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let call = self.channel.call(request);
        let health = Arc::clone(&self.health);
        Box::pin(async move {
            let result = call.await;
            let mut health = lock(&health);
            match &result {
                Ok(_) => *health = Health::default(),
                Err(_) => health.failed(),
            }
            result
        })
    }
}

/// The instances a discovered channel spreads over, and their health. With none to call, a
/// call could only wait for one until its deadline; it is refused at once instead.
#[derive(Debug, Clone)]
struct LiveInstances {
    name: String,
    health: Arc<Mutex<BTreeMap<String, Arc<Mutex<Health>>>>>,
    since: Instant,
}

/// How long after a discovered channel is made an empty instance list may still mean that the
/// registry has not answered yet, rather than that there is nobody to call.
const FIRST_ANSWER_GRACE: Duration = Duration::from_secs(1);

impl LiveInstances {
    /// A typed `503 NO_INSTANCE` when no instance is registered, or every one is sitting out
    /// after failing.
    fn none_left(&self) -> Option<Error> {
        let health = lock(&self.health);
        if health.is_empty() {
            return (self.since.elapsed() >= FIRST_ANSWER_GRACE).then(|| {
                Error::new(
                    503,
                    "NO_INSTANCE",
                    format!("no instance of `{}` is registered", self.name),
                )
            });
        }
        health.values().all(|h| lock(h).ejected()).then(|| {
            Error::new(
                503,
                "NO_INSTANCE",
                format!(
                    "every instance of `{}` failed its last call; trying again shortly",
                    self.name
                ),
            )
        })
    }
}

/// The target of a typed HTTP client: for `discovery:///name`, each request goes to the less
/// loaded (fewer requests in flight) of two live instances picked at random, among those with an
/// `http://` endpoint, governed as [`governed_channel`] governs gRPC calls (deadline, breaker,
/// trace and metadata carried on, client metrics); a URL is used as it is.
pub fn http_target(registry: &Registry, target: &str) -> anyhow::Result<gateway::Target> {
    http_target_with_credentials(registry, target, Credentials::default())
}

/// Like [`http_target`], with calls to a registry's instances presenting `credentials` (the
/// served request's bearer token, the service's own key, or both), as governed gRPC clients do.
pub fn http_target_with_credentials(
    registry: &Registry,
    target: &str,
    credentials: Credentials,
) -> anyhow::Result<gateway::Target> {
    let Some(name) = discovered_name(target) else {
        return Ok(gateway::Target::Url(
            target.trim_end_matches('/').to_owned(),
        ));
    };
    if matches!(registry, Registry::None) {
        anyhow::bail!(
            "`{target}` needs a registry, and `registry.kind` is `none`\nhint: set `registry.kind` (etcd, static or dns), or call the service by URL"
        );
    }
    Ok(gateway::Target::Balanced(Arc::new(PowerOfTwo {
        name: name.to_owned(),
        instances: registry.watch(name),
        loads: Mutex::new(HashMap::new()),
        health: Arc::default(),
        breaker: Arc::new(Breaker::new(BreakerConfig::default())),
        timeout: DEFAULT_TIMEOUT,
        // Retries may add at most 20% to the calls made (10 a second always allowed), as
        // counted over the last 10 s.
        retries: tower::retry::budget::TpsBudget::new(Duration::from_secs(10), 10, 0.2),
        credentials,
    })))
}

/// Attempts of one call that could not reach its instance, at most.
const MAX_ATTEMPTS: u32 = 3;

/// Power-of-two-choices over the instances a registry watch reports, by requests in flight.
#[derive(Debug)]
struct PowerOfTwo {
    name: String,
    instances: watch::Receiver<Vec<ServiceInstance>>,
    /// Requests in flight, by instance base URL.
    loads: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Instances sitting out after a request could not reach them, by base URL (as gRPC
    /// channels' instances do: balancing by requests in flight, one that fails at once would
    /// otherwise look the least loaded and win).
    health: Arc<Mutex<HashMap<String, Health>>>,
    breaker: Arc<Breaker>,
    timeout: Duration,
    retries: tower::retry::budget::TpsBudget,
    credentials: Credentials,
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PowerOfTwo {
    /// The base URL of the instance the next request goes to, counted in flight there; not one
    /// of `avoid` while others remain.
    fn choose(&self, avoid: &[String]) -> Result<(String, InFlight), Error> {
        let mut urls: Vec<String> = self
            .instances
            .borrow()
            .iter()
            .filter_map(|instance| instance.endpoint("http"))
            .map(|authority| format!("http://{authority}"))
            .collect();
        if urls.iter().any(|url| !avoid.contains(url)) {
            urls.retain(|url| !avoid.contains(url));
        }
        {
            let mut health = lock(&self.health);
            if health.len() > 2 * urls.len() + 8 {
                health.retain(|url, _| urls.contains(url));
            }
            let sitting_out = |url: &String| health.get(url).is_some_and(Health::ejected);
            if !urls.is_empty() && urls.iter().all(sitting_out) {
                return Err(Error::new(
                    503,
                    "NO_INSTANCE",
                    format!(
                        "every instance of `{}` failed its last call; trying again shortly",
                        self.name
                    ),
                ));
            }
            urls.retain(|url| !sitting_out(url));
        }
        let mut loads = lock(&self.loads);
        if loads.len() > 2 * urls.len() + 8 {
            loads.retain(|url, _| urls.contains(url));
        }
        let mut load_of = |url: &String| Arc::clone(loads.entry(url.clone()).or_default());
        let chosen = match urls.len() {
            0 => {
                return Err(Error::new(
                    503,
                    "NO_INSTANCE",
                    format!("no instance of `{}` is registered", self.name),
                ));
            }
            1 => 0,
            n => {
                let two = rand::seq::index::sample(&mut rand::rng(), n, 2);
                let (first, second) = (two.index(0), two.index(1));
                let (a, b) = (load_of(&urls[first]), load_of(&urls[second]));
                if b.load(Ordering::Relaxed) < a.load(Ordering::Relaxed) {
                    second
                } else {
                    first
                }
            }
        };
        let load = load_of(&urls[chosen]);
        load.fetch_add(1, Ordering::Relaxed);
        Ok((urls[chosen].clone(), InFlight(load)))
    }
}

impl gateway::Balancer for PowerOfTwo {
    fn pick(&self, operation: &str, avoid: &[String]) -> Result<gateway::Pick, Error> {
        use tower::retry::budget::Budget as _;
        let served = RequestContext::current();
        let timeout = time_left(self.timeout, served.as_ref())?;
        self.breaker.allow()?;
        let (base_url, in_flight) = self.choose(avoid)?;
        if avoid.is_empty() {
            self.retries.deposit();
        }
        let mut headers = http::HeaderMap::new();
        carry(&mut headers, served.as_ref());
        self.credentials.apply(&mut headers, served.as_ref());
        let breaker = Arc::clone(&self.breaker);
        let health = Arc::clone(&self.health);
        let operation = operation.to_owned();
        let started = Instant::now();
        Ok(gateway::Pick {
            base_url: base_url.clone(),
            timeout: Some(timeout),
            headers,
            done: Box::new(move |code, reached| {
                drop(in_flight);
                breaker.record(!matches!(code, 500 | 503 | 504));
                metrics::record_client("http", operation, code, started.elapsed());
                let mut health = lock(&health);
                match reached {
                    true => {
                        health.remove(&base_url);
                    }
                    false => health.entry(base_url).or_default().failed(),
                }
            }),
        })
    }

    fn retry(&self, failed: u32) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        use tower::retry::budget::Budget as _;
        if failed >= MAX_ATTEMPTS || !self.retries.withdraw() {
            return None;
        }
        // 10–20 ms, then 20–40 ms.
        let wait = backoff_from(
            Duration::from_millis(20),
            failed - 1,
            Duration::from_secs(1),
        );
        Some(Box::pin(tokio::time::sleep(wait)))
    }
}

/// How long one call through a [`Governed`] channel may take, unless the caller says less;
/// kratos' client default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A gRPC channel to `target` ([`grpc_channel`]) behind the client governance every call
/// should have: a deadline ([`DEFAULT_TIMEOUT`]), and kratos' circuit breaker, so a failing
/// callee is shed locally with a typed `503 CIRCUITBREAKER` instead of being called.
pub fn governed_channel(
    registry: &Registry,
    target: &str,
) -> anyhow::Result<Governed<GrpcChannel>> {
    let (channel, live) = channel_and_instances(registry, target)?;
    let mut governed = Governed::new(channel, DEFAULT_TIMEOUT, BreakerConfig::default());
    governed.live = live;
    Ok(governed)
}

/// A gRPC service (a channel) with a deadline per call and a [`Breaker`]; what generated tonic
/// clients are built on (`UserClient::new(governed)`). Every refusal and expiry is answered as a
/// typed error, as the callee's own errors are.
#[derive(Debug, Clone)]
pub struct Governed<S> {
    inner: S,
    timeout: Duration,
    breaker: Arc<Breaker>,
    live: Option<LiveInstances>,
    retries: Option<Arc<SafeRetries>>,
    credentials: Credentials,
}

/// The credentials a client's calls present to the callee.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The bearer token of the request being served travels on, so the callee sees the user the
    /// call is made for.
    pub forward: bool,
    /// The service's own credential, as a header (`x-api-key: …`): the callee sees the service,
    /// or, next to a forwarded token, which service passed the user's call on.
    pub own: Option<(http::HeaderName, http::HeaderValue)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The service's own key stays out of logs.
        f.debug_struct("Credentials")
            .field("forward", &self.forward)
            .field("own", &self.own.as_ref().map(|(name, _)| name))
            .finish()
    }
}

impl Credentials {
    /// Forwarding the served request's bearer token (`forward`), and presenting `api_key` as the
    /// service's own (`x-api-key`).
    pub fn new(forward: bool, api_key: Option<&str>) -> anyhow::Result<Credentials> {
        let own = match api_key {
            Some(key) => {
                let mut value = http::HeaderValue::from_str(key)
                    .map_err(|_| anyhow::anyhow!("an API key must be visible ASCII"))?;
                value.set_sensitive(true);
                Some((http::HeaderName::from_static("x-api-key"), value))
            }
            None => None,
        };
        Ok(Credentials { forward, own })
    }

    /// Adds the credentials to a call's headers; a header the call already sets is its own and
    /// stays as it is.
    fn apply(&self, headers: &mut http::HeaderMap, served: Option<&RequestContext>) {
        if self.forward
            && let Some(bearer) = served.and_then(|s| s.bearer.as_ref())
        {
            headers
                .entry(http::header::AUTHORIZATION)
                .or_insert_with(|| bearer.clone());
        }
        if let Some((name, value)) = &self.own {
            headers.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// Which calls may be sent again, and the budget that bounds how many are.
#[derive(Debug)]
struct SafeRetries {
    /// `/package.Service/Method` of every method the contracts mark `NO_SIDE_EFFECTS` or
    /// `IDEMPOTENT`.
    paths: std::collections::HashSet<String>,
    budget: tower::retry::budget::TpsBudget,
}

impl<S> Governed<S> {
    pub fn new(inner: S, timeout: Duration, breaker: BreakerConfig) -> Self {
        Governed {
            inner,
            timeout,
            breaker: Arc::new(Breaker::new(breaker)),
            live: None,
            retries: None,
            credentials: Credentials::default(),
        }
    }

    /// Calls present `credentials`: the served request's bearer token, the service's own key, or
    /// both.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sends a call again, to another instance, when its instance could not be reached (no
    /// connection, or `UNAVAILABLE` before any answer) — only for methods `contracts` mark
    /// `option idempotency_level = NO_SIDE_EFFECTS` (or `IDEMPOTENT`), which a second attempt
    /// cannot duplicate; at most three attempts, 10–20 ms apart and then 20–40 ms, within the
    /// deadline, and within a budget (retries add at most 20 % to the calls of the last 10 s) so
    /// that they cannot multiply an outage.
    pub fn with_safe_retries(mut self, contracts: &crate::Contracts) -> Result<Self, Error> {
        let pool = contracts.pool()?;
        let paths = pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .filter(|method| {
                // google.protobuf.MethodOptions.idempotency_level: 1 NO_SIDE_EFFECTS, 2 IDEMPOTENT.
                matches!(
                    method
                        .options()
                        .get_field_by_name("idempotency_level")
                        .as_deref(),
                    Some(prost_reflect::Value::EnumNumber(1 | 2))
                )
            })
            .map(|method| format!("/{}/{}", method.parent_service().full_name(), method.name()))
            .collect();
        self.retries = Some(Arc::new(SafeRetries {
            paths,
            budget: tower::retry::budget::TpsBudget::new(Duration::from_secs(10), 10, 0.2),
        }));
        Ok(self)
    }
}

type ResponseFuture<E> =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, E>> + Send + 'static>>;

type GrpcRequest = http::Request<tonic::body::Body>;

impl<S> tower::Service<GrpcRequest> for Governed<S>
where
    S: tower::Service<GrpcRequest, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: GrpcRequest) -> Self::Future {
        let served = RequestContext::current();
        // Never more than the caller set on the call.
        let own = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| parse_grpc_timeout(value.to_str().ok()?))
            .map_or(self.timeout, |asked| asked.min(self.timeout));
        let timeout = match time_left(own, served.as_ref()) {
            Ok(timeout) => timeout,
            Err(spent) => return Box::pin(std::future::ready(Ok(answer(spent)))),
        };
        if let Err(refused) = self.breaker.allow() {
            return Box::pin(std::future::ready(Ok(answer(refused))));
        }
        if let Some(nobody) = self.live.as_ref().and_then(LiveInstances::none_left) {
            // Held against the callee like any failed call, so the breaker sees the outage.
            self.breaker.record(false);
            let operation = request.uri().path().to_owned();
            metrics::record_client("grpc", operation, 503, Duration::ZERO);
            return Box::pin(std::future::ready(Ok(answer(nobody))));
        }
        if let Ok(value) = http::HeaderValue::from_str(&grpc_timeout_text(timeout)) {
            request.headers_mut().insert("grpc-timeout", value);
        }
        carry(request.headers_mut(), served.as_ref());
        self.credentials
            .apply(request.headers_mut(), served.as_ref());
        let breaker = Arc::clone(&self.breaker);
        let operation = request.uri().path().to_owned();
        let started = Instant::now();
        let safe = self
            .retries
            .as_ref()
            .filter(|retries| retries.paths.contains(&operation))
            .map(Arc::clone);
        let call: ResponseFuture<S::Error> = match safe {
            None => Box::pin(self.inner.call(request)),
            Some(retries) => {
                // The ready clone takes this call; the next `poll_ready` readies the original.
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                Box::pin(call_with_retries(
                    ready,
                    request,
                    retries,
                    self.live.clone(),
                ))
            }
        };
        let call = tokio::time::timeout(timeout, call);
        Box::pin(async move {
            let result = match call.await {
                Ok(result) => result,
                Err(_) => {
                    breaker.record(false);
                    metrics::record_client("grpc", operation, 504, started.elapsed());
                    let expired = Error::new(
                        504,
                        "TIMEOUT",
                        format!("no answer within {}ms", timeout.as_millis()),
                    );
                    return Ok(answer(expired));
                }
            };
            // A failing call usually answers trailers-only: its status is in the headers; one
            // whose status comes in the trailers is counted as OK.
            let code = match &result {
                Ok(response) if !response.status().is_success() => tonic::Code::Unavailable,
                Ok(response) => grpc_code_in_headers(response.headers()),
                Err(_) => tonic::Code::Unavailable,
            };
            breaker.record(!is_unhealthy(code));
            metrics::record_client("grpc", operation, http_code(code), started.elapsed());
            result
        })
    }
}

/// `request` through `inner` (already ready), and again, after a pause, while its instance
/// could not be reached and `retries` allow. The body of a unary call is small: it is read once
/// and sent as it is each time.
async fn call_with_retries<S>(
    mut inner: S,
    request: GrpcRequest,
    retries: Arc<SafeRetries>,
    live: Option<LiveInstances>,
) -> Result<http::Response<tonic::body::Body>, S::Error>
where
    S: tower::Service<GrpcRequest, Response = http::Response<tonic::body::Body>> + Clone,
{
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    use tower::retry::budget::Budget as _;

    retries.budget.deposit();
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        // The message could not be read (a failed encoding); tonic reports it on a fresh body.
        let request = http::Request::from_parts(parts, tonic::body::Body::empty());
        return inner.call(request).await;
    };
    let attempt = |parts: &http::request::Parts| {
        let mut request = http::Request::new(tonic::body::Body::new(http_body_util::Full::new(
            body.clone(),
        )));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        request
    };
    let mut result = inner.call(attempt(&parts)).await;
    let mut failed = 1;
    // Not when every instance is sitting out: the retry could only wait for one.
    let someone_left = || live.as_ref().is_none_or(|live| live.none_left().is_none());
    while unreached(&result) && failed < MAX_ATTEMPTS && someone_left() && retries.budget.withdraw()
    {
        tokio::time::sleep(backoff_from(
            Duration::from_millis(20),
            failed - 1,
            Duration::from_secs(1),
        ))
        .await;
        result = match inner.ready().await {
            Ok(ready) => ready.call(attempt(&parts)).await,
            Err(err) => Err(err),
        };
        failed += 1;
    }
    result
}

/// Whether a call failed before its instance could answer it: no connection, or `UNAVAILABLE`
/// as the only answer (a server refusing new calls while it stops).
fn unreached<E>(result: &Result<http::Response<tonic::body::Body>, E>) -> bool {
    match result {
        Err(_) => true,
        Ok(response) => grpc_code_in_headers(response.headers()) == tonic::Code::Unavailable,
    }
}

/// How long an outbound call may take: `own`, or what is left of the request being served if
/// that is less. A typed `504` when nothing is left: the call is not made, and not held against
/// the callee.
fn time_left(own: Duration, served: Option<&RequestContext>) -> Result<Duration, Error> {
    let left = served.map_or(own, |served| {
        own.min(served.deadline.saturating_duration_since(Instant::now()))
    });
    if left.is_zero() {
        return Err(Error::new(
            504,
            "TIMEOUT",
            "the request's deadline has passed",
        ));
    }
    Ok(left)
}

/// What travels with an outbound call on both transports: the trace it belongs to as W3C
/// `traceparent`, and the served request's `x-md-global-*` metadata.
fn carry(headers: &mut http::HeaderMap, served: Option<&RequestContext>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let trace = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&trace, &mut opentelemetry_http::HeaderInjector(headers));
    });
    for (name, value) in served
        .map(|s| s.global_metadata.as_slice())
        .unwrap_or_default()
    {
        headers.entry(name.clone()).or_insert_with(|| value.clone());
    }
}

/// A typed error as the trailers-only gRPC response a callee would send.
fn answer(error: Error) -> http::Response<tonic::body::Body> {
    tonic::Status::from(error).into_http()
}
