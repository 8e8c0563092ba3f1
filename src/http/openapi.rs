//! The OpenAPI document, generated from the handlers' annotations and the
//! request and response types.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Type;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder, ResponsesBuilder,
};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::ErrorCode;
use super::error_code::EndpointErrors;
use super::errors::ErrorBody;
use super::routes::{docs, health, register, signup};

/// `live` or `demo`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum UserTypeName {
    Live,
    Demo,
}

/// A BCP 47 language tag, as `is_well_formed` accepts it (`es`, `pt-BR`).
#[derive(ToSchema)]
#[schema(value_type = String, max_length = 35, pattern = "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")]
#[allow(dead_code)]
pub struct LocaleTag(String);

/// The optional `Idempotency-Key` header of the POST endpoints.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// Makes retries safe: the first request with a key runs and its answer is
    /// kept for `IDEMPOTENCY_TTL_SECS`; a repeat with the same key and body gets
    /// that answer again with `Idempotent-Replayed: true` and changes nothing.
    /// Keys are scoped per endpoint and per address (email and user_type); the
    /// same key with another body voids the kept answer and runs as a request
    /// without a key. 1 to 255 printable ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[ -~]{1,255}$"
    )]
    idempotency_key: Option<String>,
}

/// `Accept-Language`, read by the endpoints that send email.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct AcceptLanguageHeader {
    /// Picks the email's language when the body names none (`es, de;q=0.8`).
    #[param(rename = "Accept-Language")]
    accept_language: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signup-otp",
        description = "Email one-time passwords for account signup, for live and demo accounts. \
                       Every error is `{\"detail\", \"code\"}` with a stable `code`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        signup::send_otp,
        signup::verify_otp,
        register::register,
        health::live,
        health::ready,
        docs::openapi_json,
    ),
    components(schemas(ErrorBody, ErrorCode, UserTypeName, LocaleTag)),
    tags(
        (name = "signup", description = "Send and verify one-time codes"),
        (name = "accounts", description = "Register accounts"),
        (name = "operations", description = "Health and this document (metrics are served on their own listener, METRICS_ADDR)"),
    )
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        document.info.version = env!("CARGO_PKG_VERSION").to_owned();
        for item in document.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                add_errors(operation);
            }
        }
        document
    })
}

/// The error codes of each operation, declared beside its handler.
fn errors_of(operation_id: &str) -> Option<EndpointErrors> {
    match operation_id {
        "send_otp" => Some(signup::SEND_OTP_ERRORS),
        "verify_otp" => Some(signup::VERIFY_OTP_ERRORS),
        "register" => Some(register::REGISTER_ERRORS),
        "ready" => Some(health::READY_ERRORS),
        _ => None,
    }
}

/// One response per status the operation's codes have: which codes, what each
/// means, an example, and `Retry-After` where those codes send it.
fn add_errors(operation: &mut Operation) {
    let Some(errors) = operation.operation_id.as_deref().and_then(errors_of) else {
        return;
    };
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in errors.all() {
        by_status
            .entry(code.status().as_u16())
            .or_default()
            .push(code);
    }
    let mut responses = ResponsesBuilder::new();
    for (status, codes) in by_status {
        let description = codes
            .iter()
            .map(|code| format!("- `{code}`: {}", code.meaning()))
            .collect::<Vec<_>>()
            .join("\n");
        let example = json!({"detail": codes[0].meaning(), "code": codes[0].as_str()});
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .example(Some(example))
                .build(),
        );
        let waits: Vec<String> = codes
            .iter()
            .filter(|code| code.sets_retry_after())
            .map(|code| format!("`{code}`"))
            .collect();
        if !waits.is_empty() {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer),
                    ))
                    .description(Some(format!("Seconds to wait, with {}", waits.join(", "))))
                    .build(),
            );
        }
        responses = responses.response(status.to_string(), RefOr::T(response.build()));
    }
    operation
        .responses
        .responses
        .extend(responses.build().responses);
}
