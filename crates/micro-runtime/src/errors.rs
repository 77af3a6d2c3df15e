//! The error every generated API answers with, on both transports.
//!
//! It carries an HTTP status code, a machine-readable `reason` (an `ErrorReason` value name such
//! as `ORDER_NOT_FOUND`), a message for people, and metadata. Over HTTP it is the JSON body
//! `{"code", "reason", "message", "metadata"}` with the HTTP status equal to `code`; over gRPC it
//! is a status whose code follows from `code`, with a `google.rpc.ErrorInfo` detail carrying the
//! reason and metadata. Either form converts back into the same value.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub code: u16,
    pub reason: String,
    pub message: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The broken rules of a request that failed validation; over gRPC a `google.rpc.BadRequest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<FieldViolation>,
}

/// One field of a request that breaks one of its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// The field's path, e.g. `items[0].quantity`.
    pub field: String,
    pub description: String,
}

impl Error {
    pub fn new(code: u16, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code,
            reason: reason.into(),
            message: message.into(),
            metadata: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The gRPC code this error travels with.
    pub fn grpc_code(&self) -> Code {
        grpc_code(self.code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let code = err.grpc_code();
        if err.reason.is_empty() && err.metadata.is_empty() && err.violations.is_empty() {
            return tonic::Status::new(code, err.message);
        }
        let metadata: HashMap<String, String> = err.metadata.into_iter().collect();
        let mut details = ErrorDetails::with_error_info(err.reason, "", metadata);
        for violation in err.violations {
            details.add_bad_request_violation(violation.field, violation.description);
        }
        tonic::Status::with_error_details(code, err.message, details)
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let mut err = Error::new(http_code(status.code()), "", status.message());
        if let Some(info) = status.get_details_error_info() {
            err.reason = info.reason;
            err.metadata = info.metadata.into_iter().collect();
        }
        if let Some(bad_request) = status.get_details_bad_request() {
            err.violations = bad_request
                .field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect();
        }
        err
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

/// The status a gRPC response's headers carry: a failed call answers trailers-only, so its status
/// is there; `OK` when they carry none (a call that went on to send messages, whose status comes
/// in the trailers).
pub fn grpc_code_in_headers(headers: &axum::http::HeaderMap) -> Code {
    tonic::Status::from_header_map(headers).map_or(Code::Ok, |status| status.code())
}

/// The HTTP status code for a gRPC code, as kratos maps them.
///
/// | gRPC code          | HTTP |
/// |--------------------|------|
/// | OK                 | 200  |
/// | Cancelled          | 499  |
/// | Unknown            | 500  |
/// | InvalidArgument    | 400  |
/// | DeadlineExceeded   | 504  |
/// | NotFound           | 404  |
/// | AlreadyExists      | 409  |
/// | PermissionDenied   | 403  |
/// | ResourceExhausted  | 429  |
/// | FailedPrecondition | 400  |
/// | Aborted            | 409  |
/// | OutOfRange         | 400  |
/// | Unimplemented      | 501  |
/// | Internal           | 500  |
/// | Unavailable        | 503  |
/// | DataLoss           | 500  |
/// | Unauthenticated    | 401  |
pub fn http_code(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unauthenticated => 401,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// The gRPC code for an HTTP status code, as kratos maps them; other codes travel as `Unknown`.
///
/// | HTTP | gRPC code         |
/// |------|-------------------|
/// | 200  | OK                |
/// | 400  | InvalidArgument   |
/// | 401  | Unauthenticated   |
/// | 403  | PermissionDenied  |
/// | 404  | NotFound          |
/// | 409  | Aborted           |
/// | 429  | ResourceExhausted |
/// | 499  | Cancelled         |
/// | 500  | Internal          |
/// | 501  | Unimplemented     |
/// | 503  | Unavailable       |
/// | 504  | DeadlineExceeded  |
pub fn grpc_code(code: u16) -> Code {
    match code {
        200 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        500 => Code::Internal,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Unknown,
    }
}
