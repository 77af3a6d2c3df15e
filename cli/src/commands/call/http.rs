//! `micro call --http`: the method's first HTTP binding, read from the project's contracts, filled
//! from the JSON request as the service's router reads it: path variables from their fields, the
//! body as the rule says, every other field in the query string.

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::{Options, TypedError, base_url};
use crate::codegen::model::{Body, FieldPath, HttpBinding, Method, Segment};
use crate::output::Printer;
use crate::project::Project;

/// The scaffold's HTTP port.
const DEFAULT_PORT: u16 = 8000;

pub async fn call(options: &Options, printer: Printer) -> anyhow::Result<Result<(), TypedError>> {
    let project = Project::find(&options.cwd)
        .context("`micro call --http` reads the method's HTTP rule from the project's contracts")?;
    let (_, packages) = crate::commands::proto::project_contracts(&project)?;
    let method = packages
        .iter()
        .flat_map(|package| &package.services)
        .filter(|service| service.full_name == options.method.service)
        .flat_map(|service| &service.methods)
        .find(|method| method.name == options.method.method)
        .with_context(|| format!("the project's contracts declare no `{}`", options.method))?;
    let binding = method.bindings.first().with_context(|| {
        format!(
            "`{}` has no HTTP rule (`google.api.http`)\nhint: call it over gRPC, without `--http`",
            options.method
        )
    })?;
    let request: Value =
        serde_json::from_str(&options.request).context("the request is not JSON")?;
    let Value::Object(fields) = request else {
        anyhow::bail!("the request must be a JSON object, e.g. '{{\"name\": \"x\"}}'");
    };
    let base = base_url(options.address.as_deref(), DEFAULT_PORT);
    let url = request_url(&base, binding, fields.clone())?;
    let (url, body) = place_fields(url, binding, fields)?;

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

/// The binding's URL with its path variables filled from `fields`.
fn request_url(
    base: &str,
    binding: &HttpBinding,
    fields: Map<String, Value>,
) -> anyhow::Result<reqwest::Url> {
    let mut url =
        reqwest::Url::parse(base).with_context(|| format!("`{base}` is not an address"))?;
    let fields = Value::Object(fields);
    let mut segments: Vec<String> = Vec::new();
    for segment in &binding.template.segments {
        match segment {
            Segment::Literal(text) => segments.push(text.clone()),
            Segment::Variable { field, .. } => {
                let value = lookup(&fields, field).with_context(|| {
                    format!(
                        "the request needs `{}`: the URL `{}` holds it",
                        field.dotted(),
                        binding.template.text
                    )
                })?;
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    _ => anyhow::bail!(
                        "`{}` must be a string or a number to go in the URL",
                        field.dotted()
                    ),
                };
                // A patterned variable (`{name=shelves/*}`) spans segments; each is encoded alone.
                segments.extend(text.split('/').map(str::to_owned));
            }
            Segment::Any | Segment::AnyDeep => anyhow::bail!(
                "the URL `{}` has a wildcard no field fills\nhint: call it over gRPC, without `--http`",
                binding.template.text
            ),
        }
    }
    if let (Some(verb), Some(last)) = (&binding.template.verb, segments.last_mut()) {
        last.push(':');
        last.push_str(verb);
    }
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("`{base}` cannot take a path"))?
        .pop_if_empty()
        .extend(&segments);
    Ok(url)
}

/// Puts the fields the path did not take into the body or the query string, as the rule says.
fn place_fields(
    mut url: reqwest::Url,
    binding: &HttpBinding,
    fields: Map<String, Value>,
) -> anyhow::Result<(reqwest::Url, Option<Value>)> {
    let mut rest = Value::Object(fields);
    for field in &binding.path_fields {
        remove(&mut rest, &field.path);
    }
    let body = match &binding.body {
        Body::Whole => return Ok((url, Some(rest))),
        Body::Field(field) => Some(remove(&mut rest, field).unwrap_or(Value::Null)),
        Body::None => None,
    };
    let mut pairs = Vec::new();
    flatten_query("", &rest, &mut pairs);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok((url, body))
}

/// `{"a": {"b": 1}, "c": [2, 3]}` as `a.b=1&c=2&c=3`.
fn flatten_query(prefix: &str, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = match prefix {
                    "" => key.clone(),
                    _ => format!("{prefix}.{key}"),
                };
                flatten_query(&key, value, pairs);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten_query(prefix, item, pairs);
            }
        }
        Value::String(text) => pairs.push((prefix.to_owned(), text.clone())),
        Value::Null => {}
        other => pairs.push((prefix.to_owned(), other.to_string())),
    }
}

/// The value at `path`, by proto or JSON names.
fn lookup<'a>(value: &'a Value, path: &FieldPath) -> Option<&'a Value> {
    (0..path.proto.len()).try_fold(value, |value, i| {
        let map = value.as_object()?;
        map.get(&path.proto[i])
            .or_else(|| path.json.get(i).and_then(|json| map.get(json)))
    })
}

/// Takes the value at `path` out of `value`, by proto or JSON names.
fn remove(value: &mut Value, path: &FieldPath) -> Option<Value> {
    let key = |map: &Map<String, Value>, i: usize| {
        let proto = &path.proto[i];
        match (map.contains_key(proto), path.json.get(i)) {
            (false, Some(json)) => json.clone(),
            _ => proto.clone(),
        }
    };
    let last = path.proto.len().checked_sub(1)?;
    let mut parent = value;
    for i in 0..last {
        let map = parent.as_object_mut()?;
        let key = key(map, i);
        parent = map.get_mut(&key)?;
    }
    let map = parent.as_object_mut()?;
    let key = key(map, last);
    map.remove(&key)
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
