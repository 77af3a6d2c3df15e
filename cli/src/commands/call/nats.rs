//! `micro call --nats`: the method over NATS request-reply, as a service made with
//! `--transport …,nats` serves it. The request goes as proto3 JSON (the service converts it), so
//! no contract is needed here; the subject is `{prefix}.{package}.{Service}.{Method}`.

use std::time::Duration;

use anyhow::Context as _;
use micro_runtime::conf;

use super::{Callee, Options, TypedError};
use crate::output::Printer;
use crate::project::Project;

/// Where a service's NATS transport is when its project does not say.
const DEFAULT_URL: &str = "nats://localhost:4222";
const DEFAULT_PREFIX: &str = "micro";

/// How long a call may take, sent along as its deadline.
const TIMEOUT: Duration = Duration::from_secs(10);

/// NATS micro's error headers, and micro's typed error beside them.
const SERVICE_ERROR: &str = "Nats-Service-Error";
const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";
const TYPED_ERROR: &str = "Micro-Error";

pub async fn call(options: &Options, printer: Printer) -> anyhow::Result<Result<(), TypedError>> {
    let transport = project_transport(options);
    let url = match options.address.as_deref() {
        Some(address) if address.contains("://") => address.to_owned(),
        Some(address) => format!("nats://{address}"),
        None => transport
            .as_ref()
            .map_or_else(|| DEFAULT_URL.to_owned(), |t| t.url.clone()),
    };
    let prefix = transport
        .as_ref()
        .map_or(DEFAULT_PREFIX, |t| t.prefix.as_str());
    let subject = match &options.method {
        Callee::Method(method) => format!("{prefix}.{}.{}", method.service, method.method),
        Callee::Subject(subject) => subject.clone(),
    };
    serde_json::from_str::<serde_json::Value>(&options.request)
        .context("the request is not JSON")?;

    let client = async_nats::ConnectOptions::new()
        .name("micro-call")
        .connection_timeout(Duration::from_secs(5))
        .connect(url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at `{url}`\nhint: is NATS running there? name another server as the address, e.g. `micro call --nats nats://host:4222 …`"))?;
    printer.detail("Calling", format!("{subject} on {url}"));
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    headers.insert("grpc-timeout", format!("{}m", TIMEOUT.as_millis()).as_str());
    for (name, value) in &options.headers {
        headers.insert(name.as_str(), value.as_str());
    }
    let sent =
        client.request_with_headers(subject.clone(), headers, options.request.clone().into());
    let reply = match tokio::time::timeout(TIMEOUT, sent).await {
        Err(_) => anyhow::bail!("no reply on `{subject}` within {}s", TIMEOUT.as_secs()),
        Ok(Err(err)) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
            anyhow::bail!(
                "nothing serves `{subject}` on {url}\nhint: is the service running with `server.nats` in its configuration (`micro new --transport http,grpc,nats`), and is `{prefix}` its subject prefix?"
            )
        }
        Ok(Err(err)) => return Err(anyhow::anyhow!(err).context(format!("calling `{subject}`"))),
        Ok(Ok(reply)) => reply,
    };
    if let Some(error) = reply.headers.as_ref().and_then(typed) {
        return Ok(Err(error));
    }
    match serde_json::from_slice::<serde_json::Value>(&reply.payload) {
        Ok(value) => println!("{}", serde_json::to_string_pretty(&value)?),
        Err(_) => anyhow::bail!("the reply on `{subject}` is not JSON"),
    }
    Ok(Ok(()))
}

/// The project's `server.nats` section (with its `APP_…` overrides), when run inside one.
fn project_transport(options: &Options) -> Option<conf::NatsTransport> {
    #[derive(serde::Deserialize)]
    struct WithServer {
        #[serde(default)]
        server: ServerSection,
    }
    #[derive(Default, serde::Deserialize)]
    struct ServerSection {
        #[serde(default)]
        nats: Option<conf::NatsTransport>,
    }
    let project = Project::find(&options.cwd).ok()?;
    let config: WithServer = conf::load(&project.root.join("configs/config.yaml")).ok()?;
    config.server.nats
}

/// The typed error of a failed call: micro's own header, else NATS micro's pair.
fn typed(headers: &async_nats::HeaderMap) -> Option<TypedError> {
    let code = headers.get(SERVICE_ERROR_CODE)?;
    let typed = headers
        .get(TYPED_ERROR)
        .and_then(|json| serde_json::from_str::<micro_runtime::Error>(json.as_str()).ok());
    Some(match typed {
        Some(error) => TypedError {
            code: error.code,
            reason: error.reason,
            message: error.message,
            metadata: error.metadata,
            violations: error
                .violations
                .iter()
                .filter_map(|violation| serde_json::to_value(violation).ok())
                .collect(),
        },
        None => TypedError {
            code: code.as_str().parse().unwrap_or(500),
            reason: String::new(),
            message: headers
                .get(SERVICE_ERROR)
                .map(|message| message.as_str().to_owned())
                .unwrap_or_default(),
            metadata: Default::default(),
            violations: Vec::new(),
        },
    })
}
