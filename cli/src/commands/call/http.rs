//! `micro call --http`: the method's first HTTP binding, read from the project's contracts, filled
//! from the JSON request by the runtime's own code, as the service's typed clients fill it: path
//! variables from their fields, the body as the rule says, the other fields in the query string.

use anyhow::Context as _;
use micro_runtime::gateway::{self, HttpRequest};
use serde_json::Value;

use super::{Options, TypedError, base_url};
use crate::codegen::model::{Body, BoundField, FieldPath, HttpBinding, Method, ValueKind};
use crate::output::Printer;
use crate::project::Project;

/// The scaffold's HTTP port.
const DEFAULT_PORT: u16 = 8000;

pub async fn call(options: &Options, printer: Printer) -> anyhow::Result<Result<(), TypedError>> {
    let project = Project::find(&options.cwd)
        .context("`micro call --http` reads the method's HTTP rule from the project's contracts")?;
    let (_, packages) = crate::contracts::read(&project)?;
    let name = options.method.method()?;
    let method = packages
        .iter()
        .flat_map(|package| &package.services)
        .filter(|service| service.full_name == name.service)
        .flat_map(|service| &service.methods)
        .find(|method| method.name == name.method)
        .with_context(|| format!("the project's contracts declare no `{}`", options.method))?;
    let binding = method.bindings.first().with_context(|| {
        format!(
            "`{}` has no HTTP rule (`google.api.http`)\nhint: call it over gRPC, without `--http`",
            options.method
        )
    })?;
    let request: Value =
        serde_json::from_str(&options.request).context("the request is not JSON")?;
    let Value::Object(mut fields) = request else {
        anyhow::bail!("the request must be a JSON object, e.g. '{{\"name\": \"x\"}}'");
    };
    // Split as the service's own typed clients split a request: the runtime's code.
    let split = HttpRequest::split(runtime_binding(binding), &mut fields)
        .map_err(|err| anyhow::anyhow!("{}", err.message))?;
    for unused in fields.keys() {
        printer.warn(format!(
            "`{unused}` is not a field `{} {}` takes; left out",
            binding.verb, binding.template.text
        ));
    }
    let base = base_url(options.address.as_deref(), DEFAULT_PORT);
    let mut url =
        reqwest::Url::parse(&base).with_context(|| format!("`{base}` is not an address"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{base}` cannot take a path"))?
        .pop_if_empty()
        .extend(&split.path);
    if !split.query.is_empty() {
        url.query_pairs_mut().extend_pairs(&split.query);
    }
    let body = split.body;

    printer.detail("Calling", format!("{} {url}", binding.verb));
    let client = reqwest::Client::new();
    let verb = reqwest::Method::from_bytes(binding.verb.as_bytes())?;
    let mut request = client.request(verb, url.clone());
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    for (name, value) in &options.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.with_context(|| {
        format!("calling {url}\nhint: is the service running? `micro run` serves HTTP on :{DEFAULT_PORT}")
    })?;
    let status = response.status();
    let text = response.text().await.context("reading the response")?;
    if !status.is_success() {
        return Ok(Err(typed(status.as_u16(), &text)));
    }
    print_success(method, &text)?;
    Ok(Ok(()))
}

/// Prints a reply: pretty JSON, or each server-sent event's JSON for a streaming method.
fn print_success(method: &Method, text: &str) -> anyhow::Result<()> {
    if method.server_streaming {
        for data in text.lines().filter_map(|line| line.strip_prefix("data:")) {
            let value: Value = serde_json::from_str(data.trim()).context("an event is not JSON")?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        return Ok(());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => println!("{}", serde_json::to_string_pretty(&value)?),
        Err(_) => println!("{text}"),
    }
    Ok(())
}

/// The runtime's form of a binding, which the generated code writes as a `static`. `micro call`
/// makes one call and exits, so what it builds here lives as long as the process.
fn runtime_binding(binding: &HttpBinding) -> &'static gateway::Binding {
    static NO_CONTRACTS: gateway::Contracts = gateway::Contracts::new("", false);
    fn text(text: &str) -> &'static str {
        Box::leak(text.to_owned().into_boxed_str())
    }
    fn names(names: &[String]) -> &'static [&'static str] {
        Box::leak(names.iter().map(|name| text(name)).collect::<Box<[_]>>())
    }
    fn field(path: &FieldPath, kind: gateway::Kind, repeated: bool, map: bool) -> gateway::Field {
        gateway::Field {
            proto: names(&path.proto),
            json: names(&path.json),
            kind,
            repeated,
            map,
        }
    }
    fn bound(bound: &BoundField) -> gateway::Field {
        let kind = match bound.kind {
            ValueKind::Text => gateway::Kind::Text,
            ValueKind::Integer => gateway::Kind::Integer,
            ValueKind::Float => gateway::Kind::Float,
            ValueKind::Bool => gateway::Kind::Bool,
            ValueKind::Enum => gateway::Kind::Enum,
        };
        field(&bound.path, kind, bound.repeated, bound.map)
    }
    let path: Vec<gateway::Variable> = binding
        .path_fields
        .iter()
        .map(|path_field| gateway::Variable {
            field: bound(path_field),
            // Only the server reads captures; a client fills the template's text.
            parts: &[],
        })
        .collect();
    let body = match &binding.body {
        Body::None => gateway::Body::None,
        Body::Whole => gateway::Body::Whole,
        Body::Field(path) => gateway::Body::Field(field(path, gateway::Kind::Text, false, false)),
    };
    Box::leak(Box::new(gateway::Binding {
        contracts: &NO_CONTRACTS,
        operation: "",
        request: "",
        reply: "",
        method: text(&binding.verb),
        template: text(&binding.template.text),
        path: Box::leak(path.into_boxed_slice()),
        verb: binding.template.verb.as_deref().map(text),
        query: Box::leak(binding.query_fields.iter().map(bound).collect::<Box<[_]>>()),
        body,
        response_body: None,
        safe_to_retry: false,
    }))
}

/// The typed error of an HTTP reply, as micro services write them.
fn typed(code: u16, text: &str) -> TypedError {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        reason: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        metadata: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        violations: Vec<Value>,
    }
    match serde_json::from_str::<Body>(text) {
        Ok(body) => TypedError {
            code,
            reason: body.reason,
            message: body.message,
            metadata: body.metadata,
            violations: body.violations,
        },
        Err(_) => TypedError {
            code,
            reason: String::new(),
            message: text.trim().to_owned(),
            metadata: Default::default(),
            violations: Vec::new(),
        },
    }
}
