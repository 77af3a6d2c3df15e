//! `micro call [ADDR] package.Service/Method [JSON]`: invokes one RPC of a running service with a
//! JSON request and prints the JSON response, or the typed error (reason, message, metadata).
//! Over gRPC, the method is described by the server's reflection service, or by the project's
//! contracts when the server has none (or with `--proto`); with `--http`, the method's HTTP
//! binding from the project's contracts is called instead.

mod grpc;
mod http;
mod nats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use micro_runtime::conf;
use micro_runtime::registry::{DISCOVERY_SCHEME, Registry, discovered_name};

use crate::output::Printer;
use crate::project::Project;

#[derive(Clone)]
pub struct Options {
    pub cwd: PathBuf,
    /// `host:port`, a URL, or `discovery:///name` (resolved through the project's registry); the
    /// default port is the scaffold's for the transport.
    pub address: Option<String>,
    /// `package.Service/Method`, or with `--nats` a whole subject.
    pub method: Callee,
    /// The request as proto3 JSON.
    pub request: String,
    pub http: bool,
    /// Over NATS request-reply instead (`address` is then the NATS server).
    pub nats: bool,
    /// Describe the method from the project's contracts, not the server's reflection.
    pub local_contracts: bool,
    /// Headers over HTTP, metadata over gRPC.
    pub headers: Vec<(String, String)>,
}

/// What `micro call` calls: a method, or (over NATS) a subject as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callee {
    Method(MethodName),
    Subject(String),
}

impl Callee {
    /// The method, for the transports that call one by name.
    pub fn method(&self) -> anyhow::Result<&MethodName> {
        match self {
            Callee::Method(method) => Ok(method),
            Callee::Subject(subject) => anyhow::bail!(
                "`{subject}` is a NATS subject\nhint: name the method as `package.Service/Method`, or call the subject with `--nats`"
            ),
        }
    }
}

impl std::fmt::Display for Callee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Callee::Method(method) => method.fmt(f),
            Callee::Subject(subject) => f.write_str(subject),
        }
    }
}

/// `package.Service/Method`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodName {
    pub service: String,
    pub method: String,
}

impl MethodName {
    /// Parses `package.Service/Method` (a leading `/`, as in a gRPC path, is accepted).
    pub fn parse(text: &str) -> Option<MethodName> {
        let (service, method) = text.trim_start_matches('/').split_once('/')?;
        let ident = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let qualified = service.contains('.') && service.split('.').all(ident);
        (qualified && ident(method)).then(|| MethodName {
            service: service.to_owned(),
            method: method.to_owned(),
        })
    }
}

impl std::fmt::Display for MethodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service, self.method)
    }
}

/// Whether `text` reads as a NATS subject (`micro.helloworld.v1.Greeter.SayHello`): dotted tokens,
/// none of them empty, without the `/` of a method or the `:` of an address.
fn is_subject(text: &str) -> bool {
    text.contains('.')
        && !text.contains(['/', ':', ' ', '{', '"'])
        && text.split('.').all(|token| !token.is_empty())
}

/// Sorts `micro call`'s one to three positional arguments into address, callee and request; a
/// subject stands for the method only over NATS.
pub fn split_arguments(
    args: &[String],
    nats: bool,
) -> anyhow::Result<(Option<String>, Callee, String)> {
    let usage = "usage: micro call [ADDR] package.Service/Method [JSON]";
    let callee = |arg: &str| match MethodName::parse(arg) {
        Some(method) => Some(Callee::Method(method)),
        None if nats && is_subject(arg) => Some(Callee::Subject(arg.to_owned())),
        None => None,
    };
    let position = args
        .iter()
        .position(|arg| callee(arg).is_some())
        .with_context(|| {
            format!("no method among {args:?}\nhint: name it as `package.Service/Method`, e.g. `helloworld.v1.Greeter/SayHello` (or, with `--nats`, a subject); {usage}")
        })?;
    let method = callee(&args[position]).expect("found above");
    let (address, request) = match (position, &args[position + 1..]) {
        (0, []) => (None, None),
        (0, [request]) => (None, Some(request)),
        (1, []) => (Some(&args[0]), None),
        (1, [request]) => (Some(&args[0]), Some(request)),
        _ => anyhow::bail!("unexpected arguments {args:?}\nhint: {usage}"),
    };
    let request = match request.map(String::as_str) {
        None => "{}".to_owned(),
        Some("-") => {
            std::io::read_to_string(std::io::stdin()).context("reading the request from stdin")?
        }
        Some(json) => json.to_owned(),
    };
    Ok((address.cloned(), method, request))
}

/// A failed call as the service typed it: what both transports carry, printed the same way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TypedError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<serde_json::Value>,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let resolved;
        let options = match options.address.as_deref().and_then(discovered_name) {
            Some(name) if options.nats => anyhow::bail!(
                "`{DISCOVERY_SCHEME}{name}` is for HTTP and gRPC; over NATS, the server finds the service's instances itself\nhint: leave the address out, or name the NATS server (`nats://host:4222`)"
            ),
            Some(name) => {
                let address = discover(&options.cwd, name, options.http).await?;
                printer.detail("Resolved", format!("{DISCOVERY_SCHEME}{name} to {address}"));
                resolved = Options {
                    address: Some(address),
                    ..options.clone()
                };
                &resolved
            }
            None => options,
        };
        if options.nats {
            nats::call(options, printer).await
        } else if options.http {
            http::call(options, printer).await
        } else {
            grpc::call(options, printer).await
        }
    })?;
    Ok(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The error as data on stdout (for jq and scripts), and as a sentence on stderr.
            println!("{}", serde_json::to_string_pretty(&error)?);
            let red = crate::output::ERROR;
            let reason = match error.reason.as_str() {
                "" => String::new(),
                reason => format!(" {reason}"),
            };
            anstream::eprintln!(
                "{red}error{red:#}: {}{reason}: {}",
                error.code,
                error.message
            );
            ExitCode::FAILURE
        }
    })
}

/// How long `micro call discovery:///name` waits for the registry to list an instance.
const DISCOVERY_WAIT: Duration = Duration::from_secs(5);

/// The `host:port` of one instance of `name` with an endpoint for the transport (`grpc://` or
/// `http://`), found through the registry the project's configuration names (its
/// `configs/config.yaml`, with the `APP_…` overrides the service itself would apply).
async fn discover(cwd: &Path, name: &str, http: bool) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct WithRegistry {
        #[serde(default)]
        registry: conf::Registry,
    }
    let project = Project::find(cwd)?;
    let file = project.root.join("configs/config.yaml");
    let config: WithRegistry = conf::load(&file)?;
    let kind = format!("{:?}", config.registry.kind).to_lowercase();
    let registry = Registry::new(&config.registry)
        .with_context(|| format!("the registry `{}` names", file.display()))?;
    anyhow::ensure!(
        !matches!(registry, Registry::None),
        "`{}` sets no registry (`registry.kind: none`), so `{DISCOVERY_SCHEME}{name}` cannot be resolved\nhint: set `registry.kind` there (or APP_REGISTRY__KIND=etcd), or call an address",
        file.display()
    );
    let scheme = if http { "http" } else { "grpc" };
    let mut instances = registry.watch(name);
    let waited = tokio::time::timeout(DISCOVERY_WAIT, async {
        loop {
            let endpoints: Vec<String> = instances
                .borrow_and_update()
                .iter()
                .filter_map(|instance| instance.endpoint(scheme).map(str::to_owned))
                .collect();
            // Any one will do for a single call; the first keeps repeated calls on one instance.
            if let Some(endpoint) = endpoints.into_iter().next() {
                return Some(endpoint);
            }
            instances.changed().await.ok()?;
        }
    })
    .await;
    waited.ok().flatten().with_context(|| {
        format!(
            "the {kind} registry lists no instance of `{name}` with a `{scheme}://` endpoint (waited {}s)\nhint: is `{name}` running and registered? `registry:` in `{}` says where to look",
            DISCOVERY_WAIT.as_secs(),
            file.display()
        )
    })
}

/// `ADDR` as a base URL: `host:port`, `:port` or a URL, defaulting to `localhost:default_port`.
pub fn base_url(address: Option<&str>, default_port: u16) -> String {
    match address {
        None => format!("http://localhost:{default_port}"),
        Some(url) if url.contains("://") => url.trim_end_matches('/').to_owned(),
        Some(port) if port.starts_with(':') => format!("http://localhost{port}"),
        Some(host) if !host.contains(':') => format!("http://{host}:{default_port}"),
        Some(address) => format!("http://{address}"),
    }
}

/// `name: value` (or `name=value`) as given to `-H`.
pub fn parse_header(text: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .or_else(|| text.split_once('='))
        .with_context(|| format!("`{text}` is not a header\nhint: write it as `name: value`, e.g. `-H 'authorization: Bearer TOKEN'`"))?;
    Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_sort_into_address_method_and_request() {
        let (address, method, request) =
            split_arguments(&strings(&["order.v1.OrderService/GetOrder"]), false).unwrap();
        assert_eq!((address, request.as_str()), (None, "{}"));
        assert_eq!(method.to_string(), "order.v1.OrderService/GetOrder");

        let (address, method, request) = split_arguments(
            &strings(&[
                "localhost:9001",
                "/order.v1.OrderService/GetOrder",
                r#"{"order_id":"x"}"#,
            ]),
            false,
        )
        .unwrap();
        assert_eq!(address.as_deref(), Some("localhost:9001"));
        assert_eq!(method.method().unwrap().method, "GetOrder");
        assert_eq!(request, r#"{"order_id":"x"}"#);

        let err = split_arguments(&strings(&["GetOrder", "{}"]), false).unwrap_err();
        assert!(err.to_string().contains("package.Service/Method"), "{err}");
        assert!(split_arguments(&strings(&["a", "b", "x.y.Z/M", "{}"]), false).is_err());

        // Over NATS, a subject may stand for the method; an address is not taken for one.
        let subject = "micro.order.v1.OrderService.GetOrder";
        let (address, callee, _) =
            split_arguments(&strings(&["nats://10.0.0.5:4222", subject, "{}"]), true).unwrap();
        assert_eq!(address.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(callee, Callee::Subject(subject.to_owned()));
        assert!(split_arguments(&strings(&[subject]), false).is_err());
    }

    #[test]
    fn addresses_default_their_parts() {
        assert_eq!(base_url(None, 9000), "http://localhost:9000");
        assert_eq!(base_url(Some(":9100"), 9000), "http://localhost:9100");
        assert_eq!(base_url(Some("orders"), 9000), "http://orders:9000");
        assert_eq!(base_url(Some("10.0.0.5:90"), 9000), "http://10.0.0.5:90");
        assert_eq!(base_url(Some("https://x.io/"), 9000), "https://x.io");
    }
}
