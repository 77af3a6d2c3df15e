//! Support for the HTTP/JSON routes generated from `google.api.http` rules.
//!
//! A request is assembled as proto3 JSON (body, then query string, then path variables, so path
//! values win) and decoded into the request message by the canonical proto3 JSON mapping, read
//! from the contracts' descriptors (prost-reflect); the reply is encoded the same way. Every
//! failure, the service's or the binding's, is an [`Error`]; every decoding failure has the
//! reason `CODEC`.
//!
//! [`send`] is the other side: a typed client splits a request message into path, query and
//! body by the same bindings.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::{Map, Value};

pub use crate::errors::Error;
use crate::json::ProtoJson;

/// How the text of a URL parameter becomes the proto3 JSON value of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Strings, bytes and well-known types written as strings.
    Text,
    /// Integers of any width, in the forms grpc-gateway reads (`16`, `0x10`, `-1e2`).
    Integer,
    /// Floating point (`1.5`, `NaN`, `Infinity`).
    Float,
    /// `true`/`false`, and the forms grpc-gateway reads (`1`, `t`, `True`, `0`, `F`, …).
    Bool,
    /// An enum, by value name or number.
    Enum,
}

/// A request field that the URL can set.
#[derive(Debug)]
pub struct Field {
    /// The proto field names from the request message down to the field.
    pub proto: &'static [&'static str],
    /// The same path in lowerCamelCase JSON names.
    pub json: &'static [&'static str],
    pub kind: Kind,
    pub repeated: bool,
    /// A map whose entries the query string sets as `name[key]=value`.
    pub map: bool,
}

/// A path variable: a request field and the URL segments that make its value.
#[derive(Debug)]
pub struct Variable {
    pub field: Field,
    /// The variable's pattern: `[Capture("p0")]` for `{name}`, or, for
    /// `{name=shelves/*}`, `[Literal("shelves"), Capture("p0")]`; joined with `/`.
    pub parts: &'static [Part],
}

#[derive(Debug)]
pub enum Part {
    Literal(&'static str),
    /// A segment (or, for `**`, the rest of the path) axum captured under this name.
    Capture(&'static str),
}

/// Where one HTTP binding takes each part of its request message from.
#[derive(Debug)]
pub struct Binding {
    /// The contracts it comes from, whose descriptors map its messages to JSON.
    pub contracts: &'static Contracts,
    /// The RPC it calls, as gRPC names it: `/helloworld.v1.Greeter/SayHello`.
    pub operation: &'static str,
    /// The full names of its request and response messages, whose descriptors map them to JSON.
    pub request: &'static str,
    pub reply: &'static str,
    /// The HTTP method, e.g. `GET`.
    pub method: &'static str,
    /// The path template as the contract wrote it, e.g. `/v1/{name=shelves/*}:archive`.
    pub template: &'static str,
    /// The path variables, in the order they appear in the route.
    pub path: &'static [Variable],
    /// The custom verb that ends the last captured segment (`/v1/{name}:cancel`), removed from
    /// it before binding. A verb after a literal segment is part of the route itself.
    pub verb: Option<&'static str>,
    /// The fields a query string may set.
    pub query: &'static [Field],
    pub body: Body,
    /// The response field sent as the HTTP body instead of the whole response.
    pub response_body: Option<Field>,
    /// A call can be sent again when its instance could not be reached: a unary `GET`, or a
    /// method the contract marks `IDEMPOTENT` or `NO_SIDE_EFFECTS`.
    pub safe_to_retry: bool,
}

/// What the HTTP body carries.
#[derive(Debug)]
pub enum Body {
    None,
    /// Every field not bound by the path (`body: "*"`).
    Whole,
    /// One field (`body: "name"`).
    Field(Field),
}

/// The URL and headers of an HTTP request, ready to be bound to a request message.
pub struct Call {
    /// axum's captures (percent-decoded), in route order.
    captures: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    /// What middleware attached to the request (an authenticated caller, say), handed on to the
    /// service as the tonic request's extensions.
    extensions: Extensions,
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let captures = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|err| codec(format!("the path: {}", err.body_text())))?
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let Query(query) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|err| codec(format!("the query string: {}", err.body_text())))?;
        Ok(Call {
            captures,
            query,
            // Only the body is read after the call's parts, and reading it needs no header. The
            // extensions stay: they carry the body's size limit.
            headers: std::mem::take(&mut parts.headers),
            extensions: parts.extensions.clone(),
        })
    }
}

impl Call {
    /// Builds the request message of `binding` from this call and its body, wrapped as a tonic
    /// request whose metadata holds the HTTP headers and whose extensions are the HTTP request's;
    /// first of all, refuses a caller the contract does not let call it
    /// ([`Contracts::authorize`]).
    pub fn decode<T: prost::Message + Default>(
        mut self,
        binding: &Binding,
        body: &Bytes,
    ) -> Result<tonic::Request<T>, Error> {
        binding
            .contracts
            .authorize(binding.operation, &self.extensions)?;
        self.strip_verb(binding);
        let message = self.message(binding, parse_body(body)?)?;
        Ok(self.into_request(message))
    }

    /// Builds the request stream of a client-streaming or bidirectional binding: the body is a
    /// sequence of JSON values (newline-delimited JSON, as grpc-gateway reads it), each the body
    /// of one message, with the path and query fields set in every message. Each message is
    /// checked by `check` as it arrives; a malformed or invalid one ends the stream with its error,
    /// which the service sees as the stream's next item.
    pub fn decode_stream<T>(
        mut self,
        binding: &'static Binding,
        body: axum::body::Body,
        check: fn(&T) -> Result<(), Error>,
    ) -> Result<tonic::Request<tonic::Streaming<T>>, Error>
    where
        T: prost::Message + Default + Send + 'static,
    {
        binding
            .contracts
            .authorize(binding.operation, &self.extensions)?;
        self.strip_verb(binding);
        let url = UrlFields {
            query: std::mem::take(&mut self.query),
            captures: self.captures.clone(),
        };
        let messages = json_values(body.into_data_stream()).map(move |value| {
            let message: T = url.message(binding, value?)?;
            check(&message)?;
            Ok(message)
        });
        Ok(self.into_request(message_stream(messages)))
    }

    /// Removes the custom verb from the last captured segment (`7:cancel` → `7`).
    fn strip_verb(&mut self, binding: &Binding) {
        if let Some(verb) = binding.verb
            && let Some((_, last)) = self.captures.last_mut()
            && let Some(kept) = last
                .strip_suffix(verb)
                .and_then(|rest| rest.strip_suffix(':'))
        {
            let kept = kept.len();
            last.truncate(kept);
        }
    }

    fn message<T: prost::Message + Default>(
        &mut self,
        binding: &Binding,
        body: Value,
    ) -> Result<T, Error> {
        let url = UrlFields {
            query: std::mem::take(&mut self.query),
            captures: std::mem::take(&mut self.captures),
        };
        url.message(binding, body)
    }

    fn into_request<T>(self, message: T) -> tonic::Request<T> {
        let metadata = tonic::metadata::MetadataMap::from_headers(self.headers);
        tonic::Request::from_parts(metadata, self.extensions, message)
    }
}

/// The parts of a request's URL that set fields: its query string and path captures.
struct UrlFields {
    query: Vec<(String, String)>,
    captures: Vec<(String, String)>,
}

impl UrlFields {
    /// The request message of `binding` from `body` (the JSON the HTTP body carries), then the
    /// query string, then the path variables, so path values win.
    fn message<T: prost::Message + Default>(
        &self,
        binding: &Binding,
        body: Value,
    ) -> Result<T, Error> {
        let descriptor = binding.contracts.descriptor(binding.request)?;
        if let Some(message) = self.path_strings_only(binding, &descriptor) {
            return message;
        }
        let mut request = match &binding.body {
            Body::None => Map::new(),
            Body::Whole => match body {
                Value::Object(fields) => fields,
                _ => return Err(codec("the request body must be a JSON object")),
            },
            Body::Field(field) => {
                let mut request = Map::new();
                if binding.method == "PATCH" {
                    fill_update_mask(&descriptor, field, &body, &mut request);
                }
                set(&mut request, field, body);
                request
            }
        };
        let mut given = std::collections::HashSet::new();
        for (key, text) in &self.query {
            // A map entry: `labels[key]=value`.
            if let Some((name, entry)) = key.strip_suffix(']').and_then(|k| k.split_once('[')) {
                match binding.query.iter().find(|f| f.map && matches_key(f, name)) {
                    Some(field) => set_entry(&mut request, field, entry, url_value(field, text)?),
                    None => refuse_unknown(&descriptor, name)?,
                }
                continue;
            }
            let Some(field) = binding.query.iter().find(|f| !f.map && matches_key(f, key)) else {
                refuse_unknown(&descriptor, key)?;
                continue;
            };
            if !field.repeated && !given.insert(field.proto) {
                return Err(codec(format!(
                    "the query string gives `{key}` twice; it takes one value"
                )));
            }
            // Given in the query string, `update_mask` replaces the one a PATCH body implies.
            set(&mut request, field, url_value(field, text)?);
        }
        for variable in binding.path {
            let text = self.variable_text(variable);
            if variable.field.repeated {
                // A repeated field's values are comma-separated, as grpc-gateway reads them.
                for item in text.split(',') {
                    set(
                        &mut request,
                        &variable.field,
                        url_value(&variable.field, item)?,
                    );
                }
            } else {
                set(
                    &mut request,
                    &variable.field,
                    url_value(&variable.field, &text)?,
                );
            }
        }
        from_json(&descriptor, Value::Object(request), "request")
    }

    /// The request of a binding that names its resource by path alone, in string fields
    /// (`GET /v1/orders/{order_id}`), or `None` for any other. The JSON mapping has nothing to
    /// check in a string, so the fields go straight into the wire form the message is decoded from.
    fn path_strings_only<T: prost::Message + Default>(
        &self,
        binding: &Binding,
        descriptor: &MessageDescriptor,
    ) -> Option<Result<T, Error>> {
        if !matches!(binding.body, Body::None) || !self.query.is_empty() {
            return None;
        }
        let mut wire = Vec::new();
        for variable in binding.path {
            let [name] = variable.field.proto else {
                return None;
            };
            let field = descriptor.get_field_by_name(name)?;
            if field.kind() != prost_reflect::Kind::String || field.is_list() {
                return None;
            }
            let text = self.variable_text(variable);
            // A field's key and a length are both varints, as a length delimiter is.
            let key = (field.number() << 3) | 2;
            prost::encode_length_delimiter(key as usize, &mut wire).ok()?;
            prost::encode_length_delimiter(text.len(), &mut wire).ok()?;
            wire.extend_from_slice(text.as_bytes());
        }
        Some(T::decode(wire.as_slice()).map_err(|err| codec(format!("invalid request: {err}"))))
    }

    /// The value of a path variable: its pattern with each capture filled in.
    fn variable_text(&self, variable: &Variable) -> String {
        let parts = variable.parts.iter().map(|part| match part {
            Part::Literal(text) => *text,
            Part::Capture(name) => self
                .captures
                .iter()
                .find(|(captured, _)| captured == name)
                .map_or("", |(_, value)| value.as_str()),
        });
        parts.collect::<Vec<_>>().join("/")
    }
}

/// Whether a request path ends with the custom verb `verb` (`cancel` in `/v1/orders/7:cancel`).
pub fn has_verb(path: &str, verb: &str) -> bool {
    path.strip_suffix(verb)
        .is_some_and(|rest| rest.ends_with(':'))
}

/// The answer to a path that matched a route but none of its custom verbs.
pub fn no_route(path: &str) -> Response {
    Error::new(404, "NOT_FOUND", format!("no route for `{path}`")).into_response()
}

/// The messages of `messages` as the `tonic::Streaming` a client-streaming service method takes,
/// so messages made here (decoded from JSON, or checked on the way) reach the same code gRPC
/// requests do. An error ends the stream; the service sees it as the stream's next item.
pub fn message_stream<T>(
    messages: impl Stream<Item = Result<T, Error>> + Send + 'static,
) -> tonic::Streaming<T>
where
    T: prost::Message + Default + Send + 'static,
{
    use tonic::codec::Codec as _;

    let frames = messages.map(|message| {
        let message = message?;
        // Each message in gRPC's framing: uncompressed, its length, its bytes.
        let length = u32::try_from(message.encoded_len())
            .map_err(|_| codec("a streamed message is larger than 4 GiB"))?;
        let mut frame = Vec::with_capacity(5 + length as usize);
        frame.push(0);
        frame.extend_from_slice(&length.to_be_bytes());
        message
            .encode(&mut frame)
            .map_err(|err| codec(err.to_string()))?;
        Ok::<_, Error>(frame)
    });
    // tonic finds the `Status` in a body error's source chain and hands it to the service.
    let frames = frames.map(|frame| frame.map_err(tonic::Status::from));
    let decoder = tonic_prost::ProstCodec::<T, T>::default().decoder();
    tonic::Streaming::new_request(decoder, axum::body::Body::from_stream(frames), None, None)
}

/// A check for messages of bindings whose request type has no validation rules.
pub fn accept_all<T>(_: &T) -> Result<(), Error> {
    Ok(())
}

/// The JSON values of a streamed body, each parsed as soon as it is complete. Values may be
/// separated by any whitespace (usually one per line); a malformed value ends the stream.
fn json_values(
    body: axum::body::BodyDataStream,
) -> impl Stream<Item = Result<Value, Error>> + Send {
    let state = Some((body, Vec::<u8>::new(), false));
    stream::unfold(state, |state| async move {
        let (mut body, mut buffer, mut ended) = state?;
        loop {
            let start = buffer
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(buffer.len());
            if start < buffer.len() {
                let mut values =
                    serde_json::Deserializer::from_slice(&buffer[start..]).into_iter::<Value>();
                match values.next() {
                    Some(Ok(value)) => {
                        let used = start + values.byte_offset();
                        buffer.drain(..used);
                        return Some((Ok(value), Some((body, buffer, ended))));
                    }
                    // An incomplete value waits for more of the body, unless the body has ended.
                    Some(Err(err)) if !err.is_eof() || ended => {
                        return Some((
                            Err(codec(format!(
                                "malformed JSON in the request stream: {err}"
                            ))),
                            None,
                        ));
                    }
                    _ => {}
                }
            } else if ended {
                return None;
            }
            match body.next().await {
                Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                Some(Err(err)) => {
                    return Some((
                        Err(codec(format!("reading the request stream: {err}"))),
                        None,
                    ));
                }
                None => ended = true,
            }
        }
    })
}

/// The RPC an HTTP response answered for, as gRPC names it (`/helloworld.v1.Greeter/SayHello`):
/// a response extension, so middleware can label logs and metrics the same on both transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation(pub &'static str);

/// The response of a binding's handler, success or error, marked with its [`Operation`].
pub fn answer(binding: &Binding, result: Result<Response, Error>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response
        .extensions_mut()
        .insert(Operation(binding.operation));
    response
}

/// Encodes a service reply, or its `response_body` field, as the JSON body of a `200 OK`.
pub fn reply<T: prost::Message + ProtoJson>(
    binding: &Binding,
    reply: tonic::Response<T>,
) -> Result<Response, Error> {
    let body = encode(binding, reply.get_ref())?;
    let json = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json)], body).into_response())
}

/// Sends a server stream as Server-Sent Events: each message (or its `response_body` field) is
/// the JSON `data` of one event. A failure ends the stream with an `error` event whose data is
/// the error body.
pub fn stream<T, S>(binding: &'static Binding, reply: tonic::Response<S>) -> Result<Response, Error>
where
    T: prost::Message + ProtoJson,
    S: Stream<Item = Result<T, tonic::Status>> + Send + 'static,
{
    let messages = Box::pin(reply.into_inner());
    let events = stream::unfold(Some(messages), move |messages| async move {
        let mut messages = messages?;
        let message = messages.next().await?;
        let event = match message
            .map_err(Error::from)
            .and_then(|m| encode(binding, &m))
        {
            Ok(json) => Ok::<_, Infallible>(Event::default().data(String::from_utf8_lossy(&json))),
            Err(err) => {
                let json = serde_json::to_string(&err).unwrap_or_default();
                return Some((Ok(Event::default().event("error").data(json)), None));
            }
        };
        Some((event, Some(messages)))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn encoding_failed(err: serde_json::Error) -> Error {
    Error::new(500, "CODEC", err.to_string())
}

/// The JSON of a reply message, or of its `response_body` field.
fn encode<T: prost::Message + ProtoJson>(binding: &Binding, message: &T) -> Result<Vec<u8>, Error> {
    let Some(field) = &binding.response_body else {
        return crate::json::encode(message, binding.contracts);
    };
    let json = binding.contracts.to_json(binding.reply, message)?;
    let Value::Object(mut fields) = json else {
        return Err(Error::new(
            500,
            "CODEC",
            "a response message did not encode as a JSON object",
        ));
    };
    // An unset message field is absent from its parent: it is sent as `null`.
    let value = fields
        .remove(field.json[0])
        .or_else(|| fields.remove(field.proto[0]))
        .unwrap_or(Value::Null);
    serde_json::to_vec(&value).map_err(encoding_failed)
}

/// A service's contracts, as the JSON mapping needs them: their descriptors (decoded on first
/// use) and how replies name fields. The generated `api/mod.rs` declares one, `CONTRACTS`, which
/// every binding refers to.
pub struct Contracts {
    /// An encoded `google.protobuf.FileDescriptorSet` of every contract and its imports, in base64.
    descriptor_set_base64: &'static str,
    proto_field_names: bool,
    pool: std::sync::OnceLock<Result<DescriptorPool, String>>,
    access: std::sync::OnceLock<crate::access::Rules>,
}

impl std::fmt::Debug for Contracts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contracts")
            .field("proto_field_names", &self.proto_field_names)
            .finish_non_exhaustive()
    }
}

impl Contracts {
    /// The contracts whose descriptors `descriptor_set_base64` holds; replies name fields as
    /// declared (`user_id`) when `proto_field_names`, in lowerCamelCase (`userId`) otherwise.
    pub const fn new(descriptor_set_base64: &'static str, proto_field_names: bool) -> Self {
        Contracts {
            descriptor_set_base64,
            proto_field_names,
            pool: std::sync::OnceLock::new(),
            access: std::sync::OnceLock::new(),
        }
    }

    /// Every contract and its imports, for gRPC server reflection among others.
    pub fn pool(&self) -> Result<&DescriptorPool, Error> {
        self.pool
            .get_or_init(|| {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(self.descriptor_set_base64)
                    .map_err(|err| err.to_string())?;
                DescriptorPool::decode(bytes.as_slice()).map_err(|err| err.to_string())
            })
            .as_ref()
            .map_err(|err| Error::new(500, "CODEC", format!("the contracts' descriptors: {err}")))
    }

    /// Whether the caller of a request with `extensions` may call the RPC at `path`
    /// (`/pkg.Service/Method`) by the contracts' `micro/auth.proto` options; an RPC that is not
    /// the contracts' (health, reflection) is not theirs to judge.
    pub fn authorize(&self, path: &str, extensions: &Extensions) -> Result<(), Error> {
        match self.access_rules().get(path) {
            Some(rule) => crate::access::check(rule, extensions),
            None => Ok(()),
        }
    }

    /// Whether the RPC at `path` is one of the contracts'.
    pub fn governs(&self, path: &str) -> bool {
        self.access_rules().get(path).is_some()
    }

    fn access_rules(&self) -> &crate::access::Rules {
        self.access.get_or_init(|| {
            self.pool()
                .map(crate::access::Rules::from_pool)
                .unwrap_or_default()
        })
    }

    fn descriptor(&self, full_name: &str) -> Result<MessageDescriptor, Error> {
        self.pool()?.get_message_by_name(full_name).ok_or_else(|| {
            Error::new(
                500,
                "CODEC",
                format!("`{full_name}` is not among the contracts' descriptors"),
            )
        })
    }

    /// Reads a message (`full_name`, e.g. `order.v1.Order`) from its proto3 JSON, exactly as the
    /// routes read a request body: the canonical mapping, a key given twice refused, unknown
    /// fields ignored.
    pub fn decode_json<T: prost::Message + Default>(
        &self,
        full_name: &str,
        json: &[u8],
    ) -> Result<T, Error> {
        let value = strict_json(json).map_err(|err| codec(format!("malformed JSON: {err}")))?;
        from_json(&self.descriptor(full_name)?, value, "message")
    }

    /// Writes a message (`full_name`) as proto3 JSON, exactly as the routes write a reply.
    pub fn encode_json<T: prost::Message>(
        &self,
        full_name: &str,
        message: &T,
    ) -> Result<Vec<u8>, Error> {
        // Written straight out, without a JSON value in between.
        let mut out = Vec::with_capacity(128);
        self.write_reflected(full_name, message, &mut out)?;
        Ok(out)
    }

    /// Appends the proto3 JSON of `message`, of the type `full_name`, as [`Contracts::encode_json`]
    /// writes it.
    pub(crate) fn write_reflected<T: prost::Message>(
        &self,
        full_name: &str,
        message: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        to_dynamic(&self.descriptor(full_name)?, message)?
            .serialize_with_options(
                &mut serde_json::Serializer::new(out),
                &self.serialize_options(),
            )
            .map_err(encoding_failed)
    }

    /// A message (`full_name`) in its protobuf encoding, from its proto3 JSON as
    /// [`Contracts::decode_json`] reads it: for transports that carry either.
    pub fn json_to_protobuf(&self, full_name: &str, json: &[u8]) -> Result<Vec<u8>, Error> {
        let value = strict_json(json).map_err(|err| codec(format!("malformed JSON: {err}")))?;
        let message = dynamic_from_json(&self.descriptor(full_name)?, value, "message")?;
        Ok(prost::Message::encode_to_vec(&message))
    }

    /// A message (`full_name`) in its protobuf encoding, as proto3 JSON the way
    /// [`Contracts::encode_json`] writes it.
    pub fn protobuf_to_json(&self, full_name: &str, protobuf: &[u8]) -> Result<Vec<u8>, Error> {
        let message = DynamicMessage::decode(self.descriptor(full_name)?, protobuf)
            .map_err(|err| codec(format!("invalid message: {err}")))?;
        let mut out = Vec::with_capacity(128);
        message
            .serialize_with_options(
                &mut serde_json::Serializer::new(&mut out),
                &self.serialize_options(),
            )
            .map_err(encoding_failed)?;
        Ok(out)
    }

    /// The proto3 JSON of a message, as a value.
    fn to_json<T: prost::Message>(&self, full_name: &str, message: &T) -> Result<Value, Error> {
        to_dynamic(&self.descriptor(full_name)?, message)?
            .serialize_with_options(serde_json::value::Serializer, &self.serialize_options())
            .map_err(encoding_failed)
    }

    /// Every field, default values included; names as the contracts' JSON names, or as declared
    /// when the service asks for those.
    fn serialize_options(&self) -> prost_reflect::SerializeOptions {
        prost_reflect::SerializeOptions::new()
            .skip_default_fields(false)
            .use_proto_field_name(self.proto_field_names)
    }
}

/// Prepares a message's JSON for the mapping, which ignores unknown fields: an enum value's name
/// the enum does not declare is refused (rather than read as unset), and integers written as
/// strings with an exponent or a zero fraction (`"1e2"`, `"100.0"`) become the digits the mapping
/// reads.
fn normalize(descriptor: &MessageDescriptor, json: &mut Value, at: &str) -> Result<(), Error> {
    use prost_reflect::Kind;

    let Value::Object(fields) = json else {
        return Ok(());
    };
    for (key, value) in fields.iter_mut() {
        let Some(field) = descriptor
            .get_field_by_json_name(key)
            .or_else(|| descriptor.get_field_by_name(key))
        else {
            continue;
        };
        let path = format!("{at}{key}");
        let kind = match field.kind() {
            Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
            kind => kind,
        };
        let values: Vec<&mut Value> = match value {
            Value::Array(items) if field.is_list() => items.iter_mut().collect(),
            Value::Object(entries) if field.is_map() => entries.values_mut().collect(),
            other => vec![other],
        };
        for value in values {
            match &kind {
                Kind::Message(inner) => normalize(inner, value, &format!("{path}."))?,
                Kind::Enum(enumeration) => {
                    if let Value::String(name) = value
                        && enumeration.get_value_by_name(name).is_none()
                        && name.parse::<i32>().is_err()
                    {
                        return Err(codec(format!(
                            "invalid request: `{path}`: `{name}` is not a value of `{}`",
                            enumeration.name()
                        )));
                    }
                }
                Kind::Int32
                | Kind::Sint32
                | Kind::Sfixed32
                | Kind::Int64
                | Kind::Sint64
                | Kind::Sfixed64
                | Kind::Uint32
                | Kind::Fixed32
                | Kind::Uint64
                | Kind::Fixed64 => {
                    if let Value::String(text) = value
                        && text.contains(['e', 'E', '.'])
                        && let Ok(number) = text.parse::<f64>()
                        && number.fract() == 0.0
                        && number.abs() < 2f64.powi(63)
                    {
                        *text = format!("{number:.0}");
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A message from its proto3 JSON, by the canonical mapping; the error names the field at fault.
fn from_json<T: prost::Message + Default>(
    descriptor: &MessageDescriptor,
    json: Value,
    what: &str,
) -> Result<T, Error> {
    dynamic_from_json(descriptor, json, what)?
        .transcode_to::<T>()
        .map_err(|err| codec(format!("invalid {what}: {err}")))
}

fn dynamic_from_json(
    descriptor: &MessageDescriptor,
    mut json: Value,
    what: &str,
) -> Result<DynamicMessage, Error> {
    normalize(descriptor, &mut json, "")?;
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(json, &mut track);
    // Unknown fields are ignored, as grpc-gateway ignores them (and a newer client's fields must
    // not break an older service).
    let options = prost_reflect::DeserializeOptions::new().deny_unknown_fields(false);
    DynamicMessage::deserialize_with_options(descriptor.clone(), deserializer, &options).map_err(
        |err| {
            let path = track.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!("`{path}`: ")
            };
            codec(format!(
                "invalid {what}: {at}{}",
                plain_error(&err.to_string())
            ))
        },
    )
}

/// A message as the reflection of its type, which the JSON mapping writes.
fn to_dynamic<T: prost::Message>(
    descriptor: &MessageDescriptor,
    message: &T,
) -> Result<DynamicMessage, Error> {
    DynamicMessage::decode(descriptor.clone(), message.encode_to_vec().as_slice())
        .map_err(|err| Error::new(500, "CODEC", err.to_string()))
}

/// A decoding error as a person reads it, without serde's line and column into a JSON value the
/// gateway built itself.
fn plain_error(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

/// For a PATCH whose body is one message field, sets the request's `update_mask` (when it has one)
/// to the fields the body gives, as grpc-gateway does; a mask given in the query string wins.
fn fill_update_mask(
    descriptor: &MessageDescriptor,
    field: &Field,
    body: &Value,
    request: &mut Map<String, Value>,
) {
    let Some(mask_field) = descriptor.get_field_by_name("update_mask") else {
        return;
    };
    if mask_field.kind().as_message().map(|m| m.full_name()) != Some("google.protobuf.FieldMask") {
        return;
    }
    let Some(target) = field_message(descriptor, field.proto) else {
        return;
    };
    let mut paths = Vec::new();
    mask_paths(&target, body, &mut Vec::new(), &mut paths);
    if !paths.is_empty() {
        request.insert(
            mask_field.json_name().to_owned(),
            Value::String(paths.join(",")),
        );
    }
}

/// The message type the field at `path` holds, if it is a message.
fn field_message(descriptor: &MessageDescriptor, path: &[&str]) -> Option<MessageDescriptor> {
    let mut message = descriptor.clone();
    for name in path {
        message = message
            .get_field_by_name(name)?
            .kind()
            .as_message()?
            .clone();
    }
    Some(message)
}

/// The FieldMask paths (in JSON names) of the fields a JSON object sets, descending into messages
/// (but not into maps or well-known types, which are set whole).
fn mask_paths(
    message: &MessageDescriptor,
    json: &Value,
    prefix: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    let Value::Object(fields) = json else {
        return;
    };
    for (key, value) in fields {
        let Some(field) = message
            .get_field_by_json_name(key)
            .or_else(|| message.get_field_by_name(key))
        else {
            continue;
        };
        prefix.push(field.json_name().to_owned());
        match field.kind().as_message() {
            Some(inner)
                if !field.is_map()
                    && !field.is_list()
                    && inner.package_name() != "google.protobuf"
                    && value.is_object() =>
            {
                mask_paths(inner, value, prefix, out)
            }
            _ => out.push(prefix.join(".")),
        }
        prefix.pop();
    }
}

/// A query parameter that names no bindable field: ignored, as proto3 JSON ignores unknown
/// fields, unless it names a field the query string cannot set (a path through a repeated
/// message, a map without `[key]`, a message) — then the client is told, not silently dropped.
fn refuse_unknown(descriptor: &MessageDescriptor, key: &str) -> Result<(), Error> {
    let mut message = descriptor.clone();
    let parts: Vec<&str> = key.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let Some(field) = message
            .get_field_by_json_name(part)
            .or_else(|| message.get_field_by_name(part))
        else {
            return Ok(());
        };
        let last = depth + 1 == parts.len();
        match field.kind().as_message() {
            Some(inner) if !last && !field.is_list() && !field.is_map() => message = inner.clone(),
            _ => {
                return Err(codec(format!(
                    "the query string cannot set `{key}`: `{part}` is {}",
                    if field.is_map() {
                        "a map (set its entries as `name[key]=value`)"
                    } else if field.is_list() && field.kind().as_message().is_some() {
                        "a list of messages"
                    } else if field.kind().as_message().is_some() {
                        "a message"
                    } else {
                        "taken by the path or the body"
                    }
                )));
            }
        }
    }
    Ok(())
}

/// The body as JSON; a key given twice in one object is refused, as proto3 JSON requires.
fn parse_body(body: &Bytes) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    strict_json(body).map_err(|err| codec(format!("malformed JSON body: {err}")))
}

/// Parses JSON, refusing an object that gives one key twice (serde_json keeps the last).
fn strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Strict;
    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Strict {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(v.into())
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(v.into())
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Strict)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("`{key}` is given twice")));
                }
                let value = map.next_value_seed(Strict)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A query key names a field by its dotted proto path or its dotted JSON path.
fn matches_key(field: &Field, key: &str) -> bool {
    let matches = |names: &[&str]| {
        let mut parts = key.split('.');
        names.iter().all(|name| parts.next() == Some(name)) && parts.next().is_none()
    };
    matches(field.proto) || matches(field.json)
}

fn url_value(field: &Field, text: &str) -> Result<Value, Error> {
    let invalid = |expected: &str| {
        codec(format!(
            "`{}`: `{text}` is not {expected}",
            field.proto.join(".")
        ))
    };
    Ok(match field.kind {
        Kind::Text => Value::String(text.to_owned()),
        Kind::Bool => match text {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Value::Bool(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Value::Bool(false),
            _ => return Err(invalid("a boolean (`true`, `false`, `1`, `0`, `t`, `f`)")),
        },
        // A number's JSON decides its range and whether it is whole; text that is not a number
        // ("NaN", or garbage) is left to the decoder, which knows the field's type.
        Kind::Integer => match go_integer(text) {
            Some(number) => number,
            None => Value::String(text.to_owned()),
        },
        Kind::Float | Kind::Enum => serde_json::from_str::<serde_json::Number>(text)
            .map_or_else(|_| Value::String(text.to_owned()), Value::Number),
    })
}

/// An integer in the forms grpc-gateway reads (Go's literals: `-16`, `0x10`, `0o20`, `0b10000`,
/// `1_000`), as a JSON number; other text (`1e2`, `1.0`) as the JSON number it spells.
fn go_integer(text: &str) -> Option<Value> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = digits.replace('_', "");
    let (radix, digits) = match digits.get(..2) {
        Some("0x" | "0X") => (16, &digits[2..]),
        Some("0o" | "0O") => (8, &digits[2..]),
        Some("0b" | "0B") => (2, &digits[2..]),
        _ => (10, digits.as_str()),
    };
    match u128::from_str_radix(digits, radix) {
        Ok(magnitude) if negative => i64::try_from(magnitude).ok().map(|m| Value::from(-m)),
        Ok(magnitude) => u64::try_from(magnitude).ok().map(Value::from),
        Err(_) => serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .map(Value::Number),
    }
}

/// Sets one entry of a map field (`labels[key]=value`).
fn set_entry(request: &mut Map<String, Value>, field: &Field, key: &str, value: Value) {
    let mut object = request;
    for json in field.json {
        let child = object
            .entry(json.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        object = child.as_object_mut().expect("just made an object");
    }
    object.insert(key.to_owned(), value);
}

/// Sets a field by its path, creating the messages on the way, under its JSON name. A value the
/// body gave under the proto name is replaced, so the decoder never sees the field twice.
fn set(request: &mut Map<String, Value>, field: &Field, value: Value) {
    let mut object = request;
    let last = field.json.len() - 1;
    for (depth, (proto, json)) in field.proto.iter().zip(field.json).enumerate() {
        if proto != json
            && let Some(old) = object.remove(*proto)
        {
            object.entry(json.to_string()).or_insert(old);
        }
        if depth == last {
            if field.repeated {
                let slot = object
                    .entry(json.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                match slot {
                    Value::Array(items) => items.push(value),
                    other => *other = Value::Array(vec![value]),
                }
            } else {
                object.insert(json.to_string(), value);
            }
            return;
        }
        let child = object
            .entry(json.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        object = child.as_object_mut().expect("just made an object");
    }
}

fn bad_request(reason: &str, message: impl Into<String>) -> Error {
    Error::new(400, reason, message)
}

/// A body or value that is not valid proto3 JSON for its message.
fn codec(message: impl Into<String>) -> Error {
    bad_request("CODEC", message)
}

/// Where a typed HTTP client's requests go: one base URL, or for each request the instance a
/// [`Balancer`] picks (`registry::client::http_target` makes one for `discovery:///name`).
#[derive(Debug, Clone)]
pub enum Target {
    Url(String),
    Balanced(std::sync::Arc<dyn Balancer>),
}

impl From<String> for Target {
    fn from(base_url: String) -> Self {
        Target::Url(base_url)
    }
}

impl From<&str> for Target {
    fn from(base_url: &str) -> Self {
        Target::Url(base_url.to_owned())
    }
}

/// Picks the instance each request of a typed HTTP client goes to, and governs the call.
pub trait Balancer: Send + Sync + std::fmt::Debug {
    /// Where one attempt of a request goes and how, avoiding the instances of earlier attempts
    /// where others remain; a typed error (`503`, `504`) when it must not go out.
    fn pick(&self, operation: &str, avoid: &[String]) -> Result<Pick, Error>;

    /// Whether a request whose `failed` attempts could not reach their instance may try again:
    /// a wait to complete first, or none when retries are used up (a count, and a budget so
    /// retries cannot multiply an outage).
    fn retry(
        &self,
        failed: u32,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;
}

/// One request's instance, as a [`Balancer`] picked it.
pub struct Pick {
    /// The instance's base URL, `http://10.0.0.5:8000`.
    pub base_url: String,
    /// How long the request may take.
    pub timeout: Option<std::time::Duration>,
    /// Headers the request carries on (trace context, metadata).
    pub headers: reqwest::header::HeaderMap,
    /// Told the outcome once the request is over: the HTTP status answered (`503` when there
    /// was no answer), and whether the instance was reached at all.
    pub done: Box<dyn FnOnce(u16, bool) + Send>,
}

/// Calls one binding over HTTP: the request is split into path, query string and body as the
/// binding says, and the reply or error body decoded. Transport failures are `503 UNAVAILABLE`.
pub async fn send<Req: prost::Message, Rep: prost::Message + Default>(
    http: &reqwest::Client,
    target: &Target,
    binding: &Binding,
    request: &Req,
) -> Result<Rep, Error> {
    let balancer = match target {
        Target::Url(url) => {
            let headers = reqwest::header::HeaderMap::new();
            return send_to(http, url, None, headers, binding, request).await;
        }
        Target::Balanced(balancer) => balancer,
    };
    let mut tried = Vec::new();
    loop {
        let Pick {
            base_url,
            timeout,
            headers,
            done,
        } = balancer.pick(binding.operation, &tried)?;
        let result = send_to(http, &base_url, timeout, headers, binding, request).await;
        let unreached =
            matches!(&result, Err(err) if err.code == 503 && err.reason == "UNAVAILABLE");
        let code = match &result {
            Ok(_) => 200,
            Err(err) => err.code,
        };
        done(code, !unreached);
        // Only a call that never reached a service is sent again, and only when a second one
        // cannot have a second effect.
        if !(unreached && binding.safe_to_retry) {
            return result;
        }
        let Some(wait) = balancer.retry(tried.len() as u32 + 1) else {
            return result;
        };
        wait.await;
        tried.push(base_url);
    }
}

/// [`send`] to one instance.
async fn send_to<Req: prost::Message, Rep: prost::Message + Default>(
    http: &reqwest::Client,
    base_url: &str,
    timeout: Option<std::time::Duration>,
    headers: reqwest::header::HeaderMap,
    binding: &Binding,
    request: &Req,
) -> Result<Rep, Error> {
    let Value::Object(mut fields) = binding.contracts.to_json(binding.request, request)? else {
        return Err(codec("a request message did not encode as a JSON object"));
    };
    let HttpRequest { path, query, body } = HttpRequest::split(binding, &mut fields)?;
    let mut url = reqwest::Url::parse(base_url)
        .map_err(|err| bad_request("BAD_URL", format!("`{base_url}`: {err}")))?;
    url.path_segments_mut()
        .map_err(|()| bad_request("BAD_URL", format!("`{base_url}` cannot have a path")))?
        .pop_if_empty()
        .extend(&path);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(&query);
    }

    let method = reqwest::Method::from_bytes(binding.method.as_bytes())
        .map_err(|err| bad_request("BAD_METHOD", err.to_string()))?;
    let mut call = http.request(method, url).headers(headers);
    if let Some(timeout) = timeout {
        call = call.timeout(timeout);
    }
    if let Some(body) = body {
        let json = serde_json::to_vec(&body).map_err(|err| codec(err.to_string()))?;
        call = call
            .header(header::CONTENT_TYPE, "application/json")
            .body(json);
    }
    let unavailable = |err: reqwest::Error| {
        if err.is_timeout() {
            Error::new(504, "TIMEOUT", err.to_string())
        } else {
            Error::new(503, "UNAVAILABLE", err.to_string())
        }
    };
    let response = call.send().await.map_err(unavailable)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(unavailable)?;
    if !status.is_success() {
        return Err(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Error::new(status.as_u16(), "", String::from_utf8_lossy(&bytes))));
    }
    let reply = if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|err| codec(format!("malformed reply: {err}")))?
    };
    let reply = match &binding.response_body {
        Some(field) => Value::Object(Map::from_iter([(field.json[0].to_owned(), reply)])),
        None => reply,
    };
    from_json(
        &binding.contracts.descriptor(binding.reply)?,
        reply,
        "reply",
    )
}

/// A request as it travels by one binding: the URL's path segments (each percent-encoded on its
/// own when put in a URL), the query string and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl HttpRequest {
    /// Splits a request, as its proto3 JSON object (JSON or proto field names), into what
    /// `binding` puts in the path, the body and the query string, as the routes read them back.
    /// What the binding has no place for is left in `fields`.
    pub fn split(binding: &Binding, fields: &mut Map<String, Value>) -> Result<HttpRequest, Error> {
        let path = path_segments(binding, fields)?;
        let body = match &binding.body {
            Body::None => None,
            Body::Whole => Some(Value::Object(std::mem::take(fields))),
            Body::Field(field) => Some(take(fields, field).unwrap_or(Value::Null)),
        };
        let mut query = Vec::new();
        for field in binding.query {
            let key = field.json.join(".");
            match take(fields, field) {
                Some(Value::Object(entries)) if field.map => {
                    for (entry, value) in &entries {
                        query.push((format!("{key}[{entry}]"), url_text(value)));
                    }
                }
                Some(Value::Array(items)) => {
                    query.extend(items.iter().map(|item| (key.clone(), url_text(item))));
                }
                // Defaults are what an absent parameter means anyway; leaving them out keeps URLs
                // short.
                Some(value) if !is_default(&value) => query.push((key, url_text(&value))),
                _ => {}
            }
        }
        Ok(HttpRequest { path, query, body })
    }
}

/// The URL path of a binding with the request's path variables filled in (and taken out of the
/// request). Each segment is percent-encoded on its own, so a `/` inside a one-segment variable
/// stays inside it; a value that does not match its variable's pattern is refused here.
fn path_segments(binding: &Binding, fields: &mut Map<String, Value>) -> Result<Vec<String>, Error> {
    let mut template = split_outside_braces(binding.template.trim_start_matches('/'), '/');
    // A custom verb follows the last segment: `…/{name}:cancel`.
    let last = template.pop().unwrap_or_default();
    let (last, verb) = split_verb(last);
    template.push(last);
    let mut variables = binding.path.iter();
    let mut segments = Vec::new();
    for segment in template {
        let Some(variable) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if segment == "*" || segment == "**" {
                return Err(bad_request(
                    "BAD_PATH",
                    format!("`{}` has a wildcard no field fills", binding.template),
                ));
            }
            segments.push(segment.to_owned());
            continue;
        };
        let (name, pattern) = variable.split_once('=').unwrap_or((variable, "*"));
        let field = &variables
            .next()
            .expect("the binding lists every variable")
            .field;
        let value = match take(fields, field) {
            Some(Value::Array(items)) => items.iter().map(url_text).collect::<Vec<_>>().join(","),
            Some(value) => url_text(&value),
            None => String::new(),
        };
        if pattern == "*" {
            segments.push(value);
        } else if matches_pattern(&value, pattern) {
            segments.extend(value.split('/').map(str::to_owned));
        } else {
            return Err(bad_request(
                "INVALID_ARGUMENT",
                format!("`{name}` is `{value}`, which does not match `{pattern}`"),
            ));
        }
    }
    if let (Some(verb), Some(last)) = (verb, segments.last_mut()) {
        last.push(':');
        last.push_str(verb);
    }
    Ok(segments)
}

/// A template's last segment and its custom verb, as grpc-gateway reads them: after a variable,
/// everything past the first `:` (`{uuid}:custom:custom`); after a literal, past the last one.
fn split_verb(last: &str) -> (&str, Option<&str>) {
    let colon = if last.starts_with('{') {
        last.find('}')
            .map(|end| end + 1)
            .filter(|&end| last[end..].starts_with(':'))
    } else {
        last.rfind(':')
    };
    match colon {
        Some(at) => (&last[..at], Some(&last[at + 1..])),
        None => (last, None),
    }
}

/// Splits at each `separator` that is not inside a `{variable}`.
fn split_outside_braces(text: &str, separator: char) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `value` has the shape of a variable pattern such as `shelves/*/books/*`.
fn matches_pattern(value: &str, pattern: &str) -> bool {
    let mut parts = value.split('/');
    for expected in pattern.split('/') {
        match (expected, parts.next()) {
            ("**", Some(rest)) => return !rest.is_empty(),
            ("*", Some(part)) if !part.is_empty() => {}
            (literal, Some(part)) if literal == part => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

/// Removes a field from a JSON request by its path (JSON names, or proto names where the
/// message writes those), returning its value.
fn take(object: &mut Map<String, Value>, field: &Field) -> Option<Value> {
    let mut object = object;
    let last = field.json.len() - 1;
    for (depth, (json, proto)) in field.json.iter().zip(field.proto).enumerate() {
        let key = if object.contains_key(*json) {
            *json
        } else {
            *proto
        };
        if depth == last {
            return object.remove(key).filter(|v| !v.is_null());
        }
        object = object.get_mut(key)?.as_object_mut()?;
    }
    None
}

/// A JSON scalar as URL text: strings as they are, numbers and booleans as JSON writes them.
fn url_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    static CONTRACTS: Contracts = Contracts::new("", false);

    const fn text_field(proto: &'static [&'static str], json: &'static [&'static str]) -> Field {
        Field {
            proto,
            json,
            kind: Kind::Text,
            repeated: false,
            map: false,
        }
    }

    static UPDATE_BOOK: Binding = Binding {
        contracts: &CONTRACTS,
        operation: "/library.v1.Library/UpdateBook",
        request: "library.v1.UpdateBookRequest",
        reply: "library.v1.Book",
        method: "PATCH",
        template: "/v1/{book.name=shelves/*/books/*}:update",
        path: &[Variable {
            field: text_field(&["book", "name"], &["book", "name"]),
            parts: &[],
        }],
        verb: None,
        query: &[
            Field {
                proto: &["labels"],
                json: &["labels"],
                kind: Kind::Text,
                repeated: false,
                map: true,
            },
            Field {
                proto: &["tags"],
                json: &["tags"],
                kind: Kind::Text,
                repeated: true,
                map: false,
            },
            text_field(&["page_token"], &["pageToken"]),
        ],
        body: Body::Field(text_field(&["book"], &["book"])),
        response_body: None,
        safe_to_retry: false,
    };

    /// `shop.v1.GetItemRequest { string name = 1; int64 shelf = 2; }`, as generated code has it.
    #[derive(Clone, PartialEq, prost::Message)]
    struct GetItemRequest {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(int64, tag = "2")]
        shelf: i64,
    }

    fn shop_contracts() -> &'static Contracts {
        use base64::Engine as _;
        use prost::Message as _;
        use prost_types::field_descriptor_proto::{Label, Type};

        let field =
            |name: &str, number, kind: Type, json: &str| prost_types::FieldDescriptorProto {
                name: Some(name.into()),
                number: Some(number),
                label: Some(Label::Optional as i32),
                r#type: Some(kind as i32),
                json_name: Some(json.into()),
                ..Default::default()
            };
        let file = prost_types::FileDescriptorProto {
            name: Some("shop/v1/shop.proto".into()),
            package: Some("shop.v1".into()),
            syntax: Some("proto3".into()),
            message_type: vec![prost_types::DescriptorProto {
                name: Some("GetItemRequest".into()),
                field: vec![
                    field("name", 1, Type::String, "name"),
                    field("shelf", 2, Type::Int64, "shelf"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let set = prost_types::FileDescriptorSet { file: vec![file] }.encode_to_vec();
        let base64 = base64::engine::general_purpose::STANDARD.encode(set);
        Box::leak(Box::new(Contracts::new(base64.leak(), false)))
    }

    fn get_item(contracts: &'static Contracts, path: &'static [Variable]) -> Binding {
        Binding {
            contracts,
            operation: "/shop.v1.Shop/GetItem",
            request: "shop.v1.GetItemRequest",
            reply: "shop.v1.Item",
            method: "GET",
            template: "/v1/items/{name}",
            path,
            verb: None,
            query: &[Field {
                proto: &["shelf"],
                json: &["shelf"],
                kind: Kind::Integer,
                repeated: false,
                map: false,
            }],
            body: Body::None,
            response_body: None,
            safe_to_retry: true,
        }
    }

    #[test]
    fn a_request_named_by_path_strings_reads_as_the_json_mapping_reads_it() {
        let contracts = shop_contracts();
        static BY_NAME: [Variable; 1] = [Variable {
            field: text_field(&["name"], &["name"]),
            parts: &[Part::Literal("items"), Part::Capture("p0")],
        }];
        let binding = get_item(contracts, &BY_NAME);
        let url = |query: &[(&str, &str)]| UrlFields {
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            captures: vec![("p0".into(), "ünï/ code".into())],
        };
        // Without a query string the path alone names the item: the wire shortcut is taken.
        let direct = url(&[]).path_strings_only::<GetItemRequest>(
            &binding,
            &contracts.descriptor(binding.request).unwrap(),
        );
        let direct = direct.expect("taken").unwrap();
        let expected = GetItemRequest {
            name: "items/ünï/ code".into(),
            shelf: 0,
        };
        assert_eq!(direct, expected);
        assert_eq!(
            url(&[])
                .message::<GetItemRequest>(&binding, Value::Null)
                .unwrap(),
            expected
        );
        // With one, the JSON mapping reads both, and names the path value the same.
        let mapped: GetItemRequest = url(&[("shelf", "7")])
            .message(&binding, Value::Null)
            .unwrap();
        assert_eq!(
            mapped,
            GetItemRequest {
                shelf: 7,
                ..expected
            }
        );

        // A path bound to a field of another type is read by the mapping, with its checks.
        static BY_SHELF: [Variable; 1] = [Variable {
            field: Field {
                proto: &["shelf"],
                json: &["shelf"],
                kind: Kind::Integer,
                repeated: false,
                map: false,
            },
            parts: &[Part::Capture("p0")],
        }];
        let binding = get_item(contracts, &BY_SHELF);
        let shelf = |text: &str| UrlFields {
            query: Vec::new(),
            captures: vec![("p0".into(), text.into())],
        };
        let descriptor = contracts.descriptor(binding.request).unwrap();
        assert!(
            shelf("3")
                .path_strings_only::<GetItemRequest>(&binding, &descriptor)
                .is_none()
        );
        assert_eq!(
            shelf("3")
                .message::<GetItemRequest>(&binding, Value::Null)
                .unwrap()
                .shelf,
            3
        );
        assert!(
            shelf("three")
                .message::<GetItemRequest>(&binding, Value::Null)
                .is_err()
        );
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn a_request_splits_into_path_body_and_query_as_its_binding_says() {
        let mut fields = object(json!({
            "book": {"name": "shelves/1/books/2", "title": "Dune"},
            "labels": {"env": "prod"},
            "tags": ["a", "b"],
            "page_token": "",
            "typo": 1,
        }));
        let split = HttpRequest::split(&UPDATE_BOOK, &mut fields).unwrap();
        assert_eq!(split.path, ["v1", "shelves", "1", "books", "2:update"]);
        assert_eq!(split.body, Some(json!({"title": "Dune"})));
        assert_eq!(
            split.query,
            [
                ("labels[env]".to_owned(), "prod".to_owned()),
                ("tags".to_owned(), "a".to_owned()),
                ("tags".to_owned(), "b".to_owned()),
            ]
        );
        assert_eq!(
            Value::Object(fields),
            json!({"typo": 1}),
            "what has no place is left"
        );
    }

    #[test]
    fn a_path_value_outside_its_pattern_is_refused() {
        let mut fields = object(json!({"book": {"name": "books/2"}}));
        let err = HttpRequest::split(&UPDATE_BOOK, &mut fields).unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (400, "INVALID_ARGUMENT"));
        assert!(err.message.contains("shelves/*/books/*"), "{}", err.message);
    }
}
