//! API errors: a SPEC code and a human message, rendered as `{"error","message"}` with the
//! code's status from the one table in `argus_fsm::codes`. The one place where a domain
//! [`Fault`] becomes an HTTP answer.

use argus_fsm::Code;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::fault::{default_message, Fault};
use crate::store::StoreError;

/// An error answer. Messages never carry secrets, stack traces or host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// A status other than the code's own, where the SPEC names one for a route (an uploaded
    /// approval that binds another request: 400 `approval_invalid`, SPEC §13).
    status: Option<u16>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), status: None }
    }

    /// The same error answered with `status`.
    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = Some(status);
        self
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> ApiError {
        ApiError::new(code, default_message(code))
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> ApiError {
        ApiError::new(fault.code, fault.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        Fault::store(&error).into()
    }
}

/// The answer for a store failure (see [`Fault::store`]).
pub fn store_error(error: &StoreError) -> ApiError {
    Fault::store(error).into()
}

/// The error object every refusal answers with (SPEC §7).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The SPEC's error code.
    #[schema(schema_with = error_code_schema)]
    pub error: &'static str,
    /// A short explanation for the operator; never a secret.
    pub message: String,
}

/// `error` is one of the SPEC's codes, listed from the one table.
fn error_code_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Code::ALL.iter().map(|code| code.as_str())))
        .build()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(self.code.http_status());
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody { error: self.code.as_str(), message: self.message })).into_response()
    }
}
