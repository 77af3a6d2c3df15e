//! `micro call` over gRPC: the method described by the server's reflection service (or the
//! project's contracts), the request and response as dynamic messages (prost-reflect) turned
//! from and into proto3 JSON.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, SerializeOptions,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use tonic_types::StatusExt as _;

use super::{Options, TypedError, base_url};
use crate::output::Printer;
use crate::project::Project;

/// The scaffold's gRPC port.
const DEFAULT_PORT: u16 = 9000;

pub async fn call(options: &Options, printer: Printer) -> anyhow::Result<Result<(), TypedError>> {
    let url = base_url(options.address.as_deref(), DEFAULT_PORT);
    printer.detail("Calling", format!("{} at {url} over gRPC", options.method));
    let channel = Endpoint::from_shared(url.clone())
        .with_context(|| format!("`{url}` is not an address"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| {
            format!("connecting to {url}\nhint: is the service running? `micro run` serves gRPC on :{DEFAULT_PORT}; name another address first, e.g. `micro call localhost:9001 …`")
        })?;
    let method = describe(options, &channel, printer).await?;
    if method.is_client_streaming() {
        anyhow::bail!(
            "`{}` is a client-streaming method; micro call sends one request\nhint: call it from a client program",
            options.method
        );
    }
    let mut deserializer = serde_json::Deserializer::from_str(&options.request);
    let message = DynamicMessage::deserialize(method.input(), &mut deserializer)
        .and_then(|message| deserializer.end().map(|()| message))
        .with_context(|| {
            format!(
                "the request is not a valid `{}` in proto3 JSON",
                method.input().full_name()
            )
        })?;
    let mut request = tonic::Request::new(message);
    for (name, value) in &options.headers {
        let key = MetadataKey::from_bytes(name.as_bytes())
            .with_context(|| format!("`{name}` is not a metadata key"))?;
        let value = MetadataValue::try_from(value.as_str())
            .with_context(|| format!("the value of `{name}` is not valid metadata"))?;
        request.metadata_mut().insert(key, value);
    }

    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .context("the connection closed before the call")?;
    let path = PathAndQuery::try_from(format!("/{}", options.method))?;
    let codec = DynamicCodec(method.output());
    if method.is_server_streaming() {
        let mut stream = match grpc.server_streaming(request, path, codec).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Ok(Err(typed(&status))),
        };
        loop {
            match stream.message().await {
                Ok(Some(message)) => println!("{}", json(&message)?),
                Ok(None) => return Ok(Ok(())),
                Err(status) => return Ok(Err(typed(&status))),
            }
        }
    }
    match grpc.unary(request, path, codec).await {
        Ok(response) => {
            println!("{}", json(response.get_ref())?);
            Ok(Ok(()))
        }
        Err(status) => Ok(Err(typed(&status))),
    }
}

/// The method, from the server's reflection service; from the project's contracts with
/// `--proto`, or when the server offers no reflection.
async fn describe(
    options: &Options,
    channel: &Channel,
    printer: Printer,
) -> anyhow::Result<MethodDescriptor> {
    let name = options.method.method()?;
    let pool = if options.local_contracts {
        printer.detail("Described", "the method from the project's contracts");
        local_pool(options)?
    } else {
        match reflected_pool(channel, &name.service).await? {
            Some(pool) => {
                printer.detail("Described", "the method by the server's reflection");
                pool
            }
            None => {
                printer.warn("the server offers no reflection (grpc.reflection.v1 or v1alpha); describing the method from the project's contracts");
                local_pool(options)?
            }
        }
    };
    let Some(service) = pool.get_service_by_name(&name.service) else {
        let known: Vec<String> = match options.local_contracts {
            true => pool.services().map(|s| s.full_name().to_owned()).collect(),
            false => reflected_services(channel).await.unwrap_or_default(),
        };
        anyhow::bail!(
            "the service has no `{}`\nhint: it serves {}",
            name.service,
            known.join(", ")
        );
    };
    let method = service.methods().find(|m| m.name() == name.method);
    method.with_context(|| {
        let known: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
        format!(
            "`{}` has no method `{}`\nhint: its methods are: {}",
            service.full_name(),
            name.method,
            known.join(", ")
        )
    })
}

fn local_pool(options: &Options) -> anyhow::Result<DescriptorPool> {
    let project = Project::find(&options.cwd)
        .context("without the server's reflection, micro call reads the project's contracts")?;
    Ok(crate::contracts::read(&project)?.0.pool)
}

/// The files that declare `service` and everything they import, from the server's reflection
/// service; `None` when the server has no reflection service.
async fn reflected_pool(
    channel: &Channel,
    service: &str,
) -> anyhow::Result<Option<DescriptorPool>> {
    let mut pool = DescriptorPool::global();
    let mut wanted = vec![MessageRequest::FileContainingSymbol(service.to_owned())];
    let mut asked = HashSet::new();
    let mut files = BTreeMap::new();
    while let Some(request) = wanted.pop() {
        let response = match reflect(channel, request).await? {
            Reflected::Unavailable => return Ok(None),
            // An unknown symbol or file: the pool goes without it, and `describe` then says
            // which services the server does have.
            Reflected::Answer(None) => continue,
            Reflected::Answer(Some(response)) => response,
        };
        // Anything else is an error response (an unknown service, say): the pool goes without
        // it, and `describe` then lists the services the server does have.
        let MessageResponse::FileDescriptorResponse(found) = response else {
            continue;
        };
        for bytes in found.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                .context("the server's reflection sent a malformed descriptor")?;
            for dependency in &file.dependency {
                if pool.get_file_by_name(dependency).is_none() && asked.insert(dependency.clone()) {
                    wanted.push(MessageRequest::FileByFilename(dependency.clone()));
                }
            }
            files.insert(file.name().to_owned(), file);
        }
    }
    let new: Vec<_> = files
        .into_values()
        .filter(|file| pool.get_file_by_name(file.name()).is_none())
        .collect();
    pool.add_file_descriptor_protos(new)
        .context("the server's reflection sent descriptors that do not fit together")?;
    Ok(Some(pool))
}

/// The services the server's reflection lists.
async fn reflected_services(channel: &Channel) -> anyhow::Result<Vec<String>> {
    let request = MessageRequest::ListServices(String::new());
    Ok(match reflect(channel, request).await? {
        Reflected::Answer(Some(MessageResponse::ListServicesResponse(list))) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        _ => Vec::new(),
    })
}

/// What a server's reflection service said to one request.
enum Reflected {
    /// The server serves neither version of reflection.
    Unavailable,
    /// Its answer; `None` when it had none (an unknown symbol or file).
    Answer(Option<MessageResponse>),
}

/// Asks the server's reflection service, `grpc.reflection.v1`, or `v1alpha` for servers that
/// only speak that (older grpcurl-era servers, Python's grpcio-reflection before 1.62). The two
/// versions' messages are the same on the wire, so a v1 request is sent as v1alpha bytes.
async fn reflect(channel: &Channel, request: MessageRequest) -> anyhow::Result<Reflected> {
    use tonic_reflection::pb::v1alpha;

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let answer = |outcome: Result<Option<ServerReflectionResponse>, tonic::Status>| match outcome {
        Ok(response) => Ok(Reflected::Answer(response.and_then(|r| r.message_response))),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(Reflected::Answer(None)),
        Err(status) => Err(anyhow::anyhow!(
            "asking the server's reflection service: {status}"
        )),
    };
    let mut v1 = ServerReflectionClient::new(channel.clone());
    match v1
        .server_reflection_info(tokio_stream::once(request.clone()))
        .await
    {
        Ok(response) => return answer(response.into_inner().message().await),
        Err(status) if status.code() == tonic::Code::Unimplemented => {}
        Err(status) => return answer(Err(status)),
    }
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1alpha::ServerReflectionRequest::decode(request.encode_to_vec().as_slice())?;
    match alpha
        .server_reflection_info(tokio_stream::once(request))
        .await
    {
        Ok(response) => {
            let message = response.into_inner().message().await.map(|found| {
                found.and_then(|found| {
                    ServerReflectionResponse::decode(found.encode_to_vec().as_slice()).ok()
                })
            });
            answer(message)
        }
        Err(status) if status.code() == tonic::Code::Unimplemented => Ok(Reflected::Unavailable),
        Err(status) => answer(Err(status)),
    }
}

/// A message as pretty proto3 JSON (lowerCamelCase names, 64-bit integers as strings).
fn json(message: &DynamicMessage) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::pretty(&mut out);
    message.serialize_with_options(&mut serializer, &SerializeOptions::new())?;
    Ok(String::from_utf8(out)?)
}

/// The typed error a status carries: its reason and metadata from `google.rpc.ErrorInfo`, its
/// violations from `google.rpc.BadRequest`, its code as the HTTP code the service maps it to.
fn typed(status: &tonic::Status) -> TypedError {
    let mut error = TypedError {
        // The code the service itself answers over HTTP: one table, the runtime's.
        code: micro_runtime::errors::http_code(status.code()),
        reason: String::new(),
        message: status.message().to_owned(),
        metadata: BTreeMap::new(),
        violations: Vec::new(),
    };
    if let Some(info) = status.get_details_error_info() {
        error.reason = info.reason;
        error.metadata = info.metadata.into_iter().collect();
    }
    if let Some(bad_request) = status.get_details_bad_request() {
        error.violations = bad_request
            .field_violations
            .into_iter()
            .map(|v| serde_json::json!({"field": v.field, "description": v.description}))
            .collect();
    }
    error
}

/// Encodes and decodes the dynamic messages of one method.
#[derive(Clone)]
struct DynamicCodec(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.0.clone())
    }
}

struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|err| tonic::Status::internal(format!("encoding the request: {err}")))
    }
}

struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        let mut message = DynamicMessage::new(self.0.clone());
        message
            .merge(src)
            .map_err(|err| tonic::Status::internal(format!("decoding the response: {err}")))?;
        Ok(Some(message))
    }
}
