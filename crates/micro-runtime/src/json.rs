//! Proto3 JSON written straight from prost's structs, for the replies of the HTTP routes.
//!
//! `micro proto client` implements [`ProtoJson`] for every message of the contracts (each
//! package's `json.rs`), field by field, in field-number order, with what the descriptors know
//! at generation time: JSON names, presence, enum value names. The output is the one the
//! descriptor-driven mapping ([`crate::Contracts::encode_json`]) writes, and passes protobuf's
//! conformance suite the same way, without turning the reply into a dynamic message first.
//! Fields at their default values are written too (as grpc-gateway's `EmitUnpopulated`); fields
//! with presence (messages, `optional`, oneof members) only when set.
//!
//! The well-known types are written here (timestamps, durations, field masks, wrappers, `Struct`
//! and `Value`); `Any`, and the rarer `google.protobuf` messages (`Type`, descriptors), through
//! the contracts' descriptors ([`Reflected`]), since their JSON needs a type registry.

use base64::Engine as _;

use crate::errors::Error;
use crate::gateway::Contracts;

/// What writing a value gives: nothing, or the error that stops the reply (a value proto3 JSON
/// cannot represent, such as a timestamp after the year 9999).
pub type Result = std::result::Result<(), Error>;

/// A value with a proto3 JSON form.
pub trait ProtoJson {
    /// Appends the JSON of `self` to `json`.
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result;
}

/// The proto3 JSON of `message`, as the HTTP routes send it; `contracts` resolves the types that
/// `google.protobuf.Any` fields name.
pub fn encode<T: ProtoJson + ?Sized>(
    message: &T,
    contracts: &Contracts,
) -> std::result::Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    message.write_json(&mut JsonWriter {
        out: &mut out,
        contracts,
    })?;
    Ok(out)
}

/// Where JSON is appended, with the contracts that resolve `Any` and other reflected values.
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    contracts: &'a Contracts,
}

impl<'a> JsonWriter<'a> {
    /// Starts an object; its fields follow, then [`Object::end`].
    pub fn object(&mut self) -> Object<'_, 'a> {
        self.out.push(b'{');
        Object {
            json: self,
            empty: true,
        }
    }

    /// `[values…]`.
    pub fn list<T: ProtoJson>(&mut self, values: impl IntoIterator<Item = T>) -> Result {
        self.out.push(b'[');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            value.write_json(self)?;
        }
        self.out.push(b']');
        Ok(())
    }

    /// `{entries…}`, each key written as a JSON string.
    pub fn map<K: MapKey, V: ProtoJson>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result {
        let mut map = self.object();
        for (key, value) in entries {
            map.separate();
            key.write_key(map.json)?;
            map.json.out.push(b':');
            value.write_json(map.json)?;
        }
        map.end()
    }

    /// A JSON string, escaped.
    pub fn string(&mut self, text: &str) -> Result {
        // Most strings, and every key but a contract's odd `json_name`, need no escape: they
        // are copied whole rather than through serde_json's writer.
        let plain = text
            .bytes()
            .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\');
        if plain {
            self.out.reserve(text.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(text.as_bytes());
            self.out.push(b'"');
            return Ok(());
        }
        serde_json::to_writer(&mut *self.out, text).map_err(failed)
    }

    /// `null`.
    pub fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    /// JSON written elsewhere, appended as it is.
    fn raw(&mut self, json: &[u8]) {
        self.out.extend_from_slice(json);
    }

    /// A number through serde_json's formatting (integers as digits, floats shortest-exact).
    fn number<N: serde::Serialize>(&mut self, number: N) -> Result {
        serde_json::to_writer(&mut *self.out, &number).map_err(failed)
    }

    /// A 64-bit integer, which proto3 JSON writes as a string of digits.
    fn quoted<N: serde::Serialize>(&mut self, number: N) -> Result {
        self.out.push(b'"');
        self.number(number)?;
        self.out.push(b'"');
        Ok(())
    }

    /// A finite float as a number; NaN and the infinities as the strings proto3 JSON names them.
    fn float(&mut self, value: f64, finite: impl FnOnce(&mut Self) -> Result) -> Result {
        if value.is_finite() {
            finite(self)
        } else if value.is_nan() {
            self.string("NaN")
        } else if value > 0.0 {
            self.string("Infinity")
        } else {
            self.string("-Infinity")
        }
    }

    /// Bytes in standard base64, with padding.
    fn base64(&mut self, bytes: &[u8]) {
        let engine = &base64::engine::general_purpose::STANDARD;
        self.out.push(b'"');
        let start = self.out.len();
        let length = base64::encoded_len(bytes.len(), true).expect("a reply fits in memory");
        self.out.resize(start + length, 0);
        engine
            .encode_slice(bytes, &mut self.out[start..])
            .expect("the buffer was sized by encoded_len");
        self.out.push(b'"');
    }
}

/// An object being written: each call adds one key and its value.
pub struct Object<'w, 'a> {
    json: &'w mut JsonWriter<'a>,
    empty: bool,
}

impl Object<'_, '_> {
    /// `"key": value`.
    pub fn field<T: ProtoJson + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        self.key(key)?;
        value.write_json(self.json)
    }

    /// `"key": [values…]`.
    pub fn list<T: ProtoJson>(&mut self, key: &str, values: impl IntoIterator<Item = T>) -> Result {
        self.key(key)?;
        self.json.list(values)
    }

    /// `"key": {entries…}`, each map key written as a JSON string.
    pub fn map<K: MapKey, V: ProtoJson>(
        &mut self,
        key: &str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result {
        self.key(key)?;
        self.json.map(entries)
    }

    /// Closes the object.
    pub fn end(self) -> Result {
        self.json.out.push(b'}');
        Ok(())
    }

    fn key(&mut self, key: &str) -> Result {
        self.separate();
        self.json.string(key)?;
        self.json.out.push(b':');
        Ok(())
    }

    fn separate(&mut self) {
        if !std::mem::take(&mut self.empty) {
            self.json.out.push(b',');
        }
    }
}

/// The key of a map field: proto3 JSON writes every key as a string.
pub trait MapKey {
    fn write_key(&self, json: &mut JsonWriter<'_>) -> Result;
}

impl MapKey for String {
    fn write_key(&self, json: &mut JsonWriter<'_>) -> Result {
        json.string(self)
    }
}

impl MapKey for bool {
    fn write_key(&self, json: &mut JsonWriter<'_>) -> Result {
        json.raw(if *self { b"\"true\"" } else { b"\"false\"" });
        Ok(())
    }
}

macro_rules! integer_keys {
    ($($t:ty),*) => {$(
        impl MapKey for $t {
            fn write_key(&self, json: &mut JsonWriter<'_>) -> Result {
                json.quoted(*self)
            }
        }
    )*};
}
integer_keys!(i32, i64, u32, u64);

impl<K: MapKey + ?Sized> MapKey for &K {
    fn write_key(&self, json: &mut JsonWriter<'_>) -> Result {
        (**self).write_key(json)
    }
}

impl<T: ProtoJson + ?Sized> ProtoJson for &T {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        (**self).write_json(json)
    }
}

impl<T: ProtoJson + ?Sized> ProtoJson for Box<T> {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        (**self).write_json(json)
    }
}

impl ProtoJson for String {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.string(self)
    }
}

impl ProtoJson for str {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.string(self)
    }
}

impl ProtoJson for bool {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.raw(if *self { b"true" } else { b"false" });
        Ok(())
    }
}

/// 32-bit integers are JSON numbers; 64-bit ones strings of digits, as proto3 JSON writes them
/// (a JSON number loses precision past 2^53 in most readers).
macro_rules! integers {
    ($write:ident: $($t:ty),*) => {$(
        impl ProtoJson for $t {
            fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
                json.$write(*self)
            }
        }
    )*};
}
integers!(number: i32, u32);
integers!(quoted: i64, u64);

impl ProtoJson for f32 {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        // As an f32, so the shortest digits are those of the float, not of its widening.
        json.float(f64::from(*self), |json| json.number(*self))
    }
}

impl ProtoJson for f64 {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.float(*self, |json| json.number(*self))
    }
}

/// `bytes`, in base64.
impl ProtoJson for Vec<u8> {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.base64(self);
        Ok(())
    }
}

/// An enum field's number, written as the name the contract gives it, or as the number when
/// the contract names none (a newer peer's value).
#[derive(Clone, Copy)]
pub struct Enum(pub i32, pub fn(i32) -> Option<&'static str>);

impl ProtoJson for Enum {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        let Enum(number, name_of) = *self;
        match name_of(number) {
            Some(name) => json.string(name),
            None => json.number(number),
        }
    }
}

/// A `google.protobuf.NullValue`, whatever its number: JSON's `null`.
#[derive(Clone, Copy)]
pub struct Null;

impl ProtoJson for Null {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        json.null();
        Ok(())
    }
}

/// A message written through the contracts' descriptors by its full name, as
/// [`Contracts::encode_json`] writes it: for the types whose JSON needs them (`Any`) or that
/// micro writes no code for (the rarer `google.protobuf` messages).
pub struct Reflected<'m, T>(pub &'m T, pub &'static str);

impl<T: prost::Message> ProtoJson for Reflected<'_, T> {
    fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
        let Reflected(message, full_name) = *self;
        json.contracts.write_reflected(full_name, message, json.out)
    }
}

fn failed(err: serde_json::Error) -> Error {
    Error::new(500, "CODEC", err.to_string())
}

/// The well-known types, as proto3 JSON gives them their own forms. They come from pbjson-types,
/// which every service's generated code already uses; micro's CLI builds without them.
#[cfg(feature = "server")]
mod well_known {
    use pbjson_types as wkt;

    use super::{Error, JsonWriter, ProtoJson, Reflected, Result};

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range RFC 3339 can write.
    const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
    /// ±10,000 years, the range proto3 JSON allows a duration.
    const DURATION_SECONDS: u64 = 315_576_000_000;

    fn out_of_range(what: &str) -> Error {
        Error::new(500, "CODEC", format!("{what} out of range"))
    }

    /// Text that needs no escaping (RFC 3339 times, durations), between quotes.
    fn plain_string(json: &mut JsonWriter<'_>, text: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        json.out.push(b'"');
        json.out
            .write_fmt(text)
            .expect("writing to a Vec does not fail");
        json.out.push(b'"');
    }

    impl ProtoJson for wkt::Timestamp {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            if !TIMESTAMP_SECONDS.contains(&self.seconds) {
                return Err(out_of_range("timestamp"));
            }
            // Since 1970, and normalised (every time a service makes): humantime writes it
            // digit by digit. Otherwise prost-types, which handles any year and normalises.
            if let (Ok(seconds), Ok(nanos @ 0..=999_999_999)) =
                (u64::try_from(self.seconds), u32::try_from(self.nanos))
            {
                let time = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, nanos);
                // The fewest of 0, 3, 6 or 9 fractional digits that keep every nanosecond.
                let text = if nanos == 0 {
                    humantime::format_rfc3339_seconds(time)
                } else if nanos % 1_000_000 == 0 {
                    humantime::format_rfc3339_millis(time)
                } else if nanos % 1_000 == 0 {
                    humantime::format_rfc3339_micros(time)
                } else {
                    humantime::format_rfc3339_nanos(time)
                };
                plain_string(json, format_args!("{text}"));
                return Ok(());
            }
            let timestamp = prost_types::Timestamp {
                seconds: self.seconds,
                nanos: self.nanos,
            };
            plain_string(json, format_args!("{timestamp}"));
            Ok(())
        }
    }

    impl ProtoJson for wkt::Duration {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            if self.seconds.unsigned_abs() > DURATION_SECONDS
                || self.nanos.unsigned_abs() > 999_999_999
            {
                return Err(out_of_range("duration"));
            }
            let duration = prost_types::Duration {
                seconds: self.seconds,
                nanos: self.nanos,
            };
            plain_string(json, format_args!("{duration}"));
            Ok(())
        }
    }

    /// Paths joined by commas, each in lowerCamelCase; a path that would not read back the same
    /// (`fooBar`, `foo__bar`) is refused, as the mapping requires.
    impl ProtoJson for wkt::FieldMask {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            let mut joined = String::new();
            for (index, path) in self.paths.iter().enumerate() {
                if index > 0 {
                    joined.push(',');
                }
                let mut upper_next = false;
                for c in path.chars() {
                    if c.is_ascii_uppercase() || (upper_next && !c.is_ascii_lowercase()) {
                        return Err(Error::new(
                            500,
                            "CODEC",
                            format!("field mask path `{path}` has no lowerCamelCase form"),
                        ));
                    }
                    if c == '_' {
                        upper_next = true;
                    } else if upper_next {
                        joined.push(c.to_ascii_uppercase());
                        upper_next = false;
                    } else {
                        joined.push(c);
                    }
                }
            }
            json.string(&joined)
        }
    }

    impl ProtoJson for wkt::Empty {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            json.raw(b"{}");
            Ok(())
        }
    }

    impl ProtoJson for wkt::Any {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            Reflected(self, "google.protobuf.Any").write_json(json)
        }
    }

    impl ProtoJson for wkt::Struct {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            json.map(&self.fields)
        }
    }

    impl ProtoJson for wkt::ListValue {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            json.list(&self.values)
        }
    }

    impl ProtoJson for wkt::Value {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            use wkt::value::Kind;
            match &self.kind {
                None | Some(Kind::NullValue(_)) => {
                    json.null();
                    Ok(())
                }
                Some(Kind::NumberValue(number)) if !number.is_finite() => Err(Error::new(
                    500,
                    "CODEC",
                    "a google.protobuf.Value cannot hold NaN or an infinity",
                )),
                Some(Kind::NumberValue(number)) => json.number(*number),
                Some(Kind::StringValue(text)) => json.string(text),
                Some(Kind::BoolValue(value)) => value.write_json(json),
                Some(Kind::StructValue(fields)) => fields.write_json(json),
                Some(Kind::ListValue(values)) => values.write_json(json),
            }
        }
    }

    /// A wrapper is written as the value it wraps.
    macro_rules! wrappers {
        ($($wrapper:ident),*) => {$(
            impl ProtoJson for wkt::$wrapper {
                fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
                    self.value.write_json(json)
                }
            }
        )*};
    }
    wrappers!(
        DoubleValue,
        FloatValue,
        Int64Value,
        UInt64Value,
        Int32Value,
        UInt32Value,
        BoolValue,
        StringValue
    );

    impl ProtoJson for wkt::BytesValue {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            json.base64(&self.value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    static NO_CONTRACTS: Contracts = Contracts::new("", false);

    /// A message of every shape, written the way generated code writes one.
    struct Sample {
        count: i64,
        ratio: f32,
        missing: f64,
        data: Vec<u8>,
        status: i32,
        statuses: Vec<i32>,
        by_id: BTreeMap<u64, String>,
        flags: BTreeMap<bool, bool>,
        note: Option<String>,
    }

    fn status_name(number: i32) -> Option<&'static str> {
        (number == 1).then_some("STATUS_OPEN")
    }

    impl ProtoJson for Sample {
        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {
            let mut object = json.object();
            object.field("count", &self.count)?;
            object.field("ratio", &self.ratio)?;
            object.field("missing", &self.missing)?;
            object.field("data", &self.data)?;
            object.field("status", &Enum(self.status, status_name))?;
            object.list(
                "statuses",
                self.statuses.iter().map(|&n| Enum(n, status_name)),
            )?;
            object.map("byId", &self.by_id)?;
            object.map("flags", &self.flags)?;
            if let Some(value) = &self.note {
                object.field("note", value)?;
            }
            object.field("nothing", &Null)?;
            object.end()
        }
    }

    #[test]
    fn writes_proto3_json_forms() {
        let sample = Sample {
            count: -9_007_199_254_740_993,
            ratio: 0.1,
            missing: f64::NEG_INFINITY,
            data: b"micro\xff".to_vec(),
            status: 1,
            statuses: vec![1, 7],
            by_id: BTreeMap::from([(18_446_744_073_709_551_615, "max \"quoted\"".into())]),
            flags: BTreeMap::from([(false, true)]),
            note: Some("tab\tcontrol\u{1} é\\".into()),
        };
        let json = String::from_utf8(encode(&sample, &NO_CONTRACTS).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"count":"-9007199254740993","ratio":0.1,"missing":"-Infinity","data":"bWljcm//","status":"STATUS_OPEN","statuses":["STATUS_OPEN",7],"byId":{"18446744073709551615":"max \"quoted\""},"flags":{"false":true},"note":"tab\tcontrol\u0001 é\\","nothing":null}"#
        );
    }

    #[cfg(feature = "server")]
    #[test]
    fn refuses_what_proto3_json_cannot_write() {
        let late = pbjson_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        };
        assert_eq!(
            encode(&late, &NO_CONTRACTS).unwrap_err().message,
            "timestamp out of range"
        );
        let time = pbjson_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5_000_000,
        };
        assert_eq!(
            encode(&time, &NO_CONTRACTS).unwrap(),
            br#""2023-11-14T22:13:20.005Z""#
        );
        for (seconds, nanos, text) in [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_700_000_000, 120_000, "2023-11-14T22:13:20.000120Z"),
            (1_700_000_000, 7, "2023-11-14T22:13:20.000000007Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
            (10, -1, "1970-01-01T00:00:09.999999999Z"),
        ] {
            let time = pbjson_types::Timestamp { seconds, nanos };
            let written = encode(&time, &NO_CONTRACTS).unwrap();
            assert_eq!(
                written,
                format!("\"{text}\"").as_bytes(),
                "{seconds}s {nanos}ns"
            );
        }
        let mask = pbjson_types::FieldMask {
            paths: vec!["user_id".into(), "items.unit_price".into()],
        };
        assert_eq!(
            encode(&mask, &NO_CONTRACTS).unwrap(),
            br#""userId,items.unitPrice""#
        );
        let odd = pbjson_types::FieldMask {
            paths: vec!["userId".into()],
        };
        assert!(encode(&odd, &NO_CONTRACTS).is_err());
        let nan = pbjson_types::Value {
            kind: Some(pbjson_types::value::Kind::NumberValue(f64::NAN)),
        };
        assert!(encode(&nan, &NO_CONTRACTS).is_err());
    }
}
