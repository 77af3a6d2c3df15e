//! Request validation from the contracts' protoc-gen-validate rules (`(validate.rules)`).
//!
//! Each message with rules implements [`Validate`]; the generated HTTP handlers and gRPC services
//! run it before the service sees a request, and answer a broken rule with a `400 VALIDATOR`
//! error (`INVALID_ARGUMENT` over gRPC) that lists every violated field.

pub use crate::errors::{Error, FieldViolation};

/// A message whose fields have rules.
pub trait Validate {
    /// Records a violation for each broken rule, naming fields below `prefix` (`""` at the top,
    /// `items[0].` for an item of a list).
    fn validate_at(&self, prefix: &str, violations: &mut Violations);

    /// Every broken rule, as one error.
    fn validate(&self) -> Result<(), Error> {
        let mut violations = Violations::default();
        self.validate_at("", &mut violations);
        violations.into_result()
    }
}

/// A client stream whose every message is checked as it arrives, so gRPC refuses what the HTTP
/// routes refuse: a message that breaks its rules ends the stream with its `400 VALIDATOR`
/// error, which the service sees as the stream's next item.
pub fn checked_stream<T>(
    request: tonic::Request<tonic::Streaming<T>>,
) -> tonic::Request<tonic::Streaming<T>>
where
    T: Validate + prost::Message + Default + Send + 'static,
{
    let (metadata, extensions, messages) = request.into_parts();
    let checked = futures_util::stream::unfold(Some(messages), |messages| async move {
        let mut messages = messages?;
        let next = match messages.message().await {
            Ok(None) => return None,
            Ok(Some(message)) => message.validate().map(|()| message),
            Err(status) => Err(Error::from(status)),
        };
        let more = next.is_ok().then_some(messages);
        Some((next, more))
    });
    tonic::Request::from_parts(
        metadata,
        extensions,
        crate::gateway::message_stream(checked),
    )
}

/// A boxed message (prost boxes recursive `oneof` members) validates as its content.
impl<T: Validate> Validate for Box<T> {
    fn validate_at(&self, prefix: &str, violations: &mut Violations) {
        (**self).validate_at(prefix, violations);
    }
}

/// The broken rules found so far.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: String, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field,
            description: description.into(),
        });
    }

    /// `Ok` when nothing was broken; otherwise a `400 VALIDATOR` error naming each field.
    pub fn into_result(self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let summary: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        let mut err = Error::new(
            400,
            "VALIDATOR",
            format!("invalid request: {}", summary.join("; ")),
        );
        err.violations = self.0;
        Err(err)
    }
}

/// An address of the form `local@domain`, with a valid hostname as the domain, alone or with a
/// display name (`Ada Lovelace <ada@example.com>`), as RFC 5322 writes addresses.
pub fn is_email(text: &str) -> bool {
    let text = match text
        .strip_suffix('>')
        .and_then(|rest| rest.rsplit_once('<'))
    {
        Some((_, address)) => address,
        None => text,
    };
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && text.len() <= 254
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        && is_hostname(domain)
}

/// A hostname as RFC 1034 defines one: dot-separated labels of letters, digits and inner hyphens.
pub fn is_hostname(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A UUID in its canonical hyphenated form (`8-4-4-4-12` hex digits).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An absolute URI: a scheme, a colon, and no whitespace.
pub fn is_uri(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && is_uri_ref(text)
}

/// A URI reference, absolute or relative: the characters RFC 3986 allows (and any beyond
/// ASCII), with each `%` starting a two-digit escape.
pub fn is_uri_ref(text: &str) -> bool {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c) || !c.is_ascii()
    };
    let bytes = text.as_bytes();
    text.chars()
        .all(|c| allowed(c) && !c.is_whitespace() && !c.is_control())
        && text.match_indices('%').all(|(at, _)| {
            bytes.len() > at + 2
                && bytes[at + 1].is_ascii_hexdigit()
                && bytes[at + 2].is_ascii_hexdigit()
        })
}

/// A hostname or an IP address.
pub fn is_address(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok() || is_hostname(text)
}

/// Whether `bytes` holds `part` anywhere.
pub fn bytes_contain(bytes: &[u8], part: &[u8]) -> bool {
    part.is_empty() || bytes.windows(part.len()).any(|window| window == part)
}

/// Whether a timestamp `(seconds, nanos)` breaks its rules relative to now: `before` (`lt_now`),
/// `after` (`gt_now`), and `within` a `(seconds, nanos)` distance of now.
pub fn outside_now(
    time: (i64, i32),
    before: bool,
    after: bool,
    within: Option<(i64, i32)>,
) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i128);
    let time = i128::from(time.0) * 1_000_000_000 + i128::from(time.1);
    let within =
        within.map(|(seconds, nanos)| i128::from(seconds) * 1_000_000_000 + i128::from(nanos));
    (before && time >= now)
        || (after && time <= now)
        || within.is_some_and(|within| (time - now).abs() > within)
}
