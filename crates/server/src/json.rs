//! The JSON body extractor: checks the media type and the size limit, and turns every parse
//! error into a 4xx that names the field (`roles[1]`, `expires_in`) and, for bad syntax, the
//! line and column. Bodies are read as JSON Schema reads them (the document's terms): an
//! object where an object is expected, never an array of its fields, and `3.0` as the
//! integer 3.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Number, Value};

use crate::error::AppError;

/// A JSON request body of type `T`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v == "application/json" || v.ends_with("+json")
            });
        if !is_json {
            return Err(AppError::BadRequest {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "the body must be JSON, sent with Content-Type: application/json".into(),
                field: None,
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::BadRequest {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "body_too_large",
                    message: "the request body is larger than this server accepts".into(),
                    field: None,
                }
            } else {
                AppError::malformed("unreadable_body", rej.body_text(), None)
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses `bytes` as `T`, naming the path of the first problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Syntax first, so its errors keep their line and column.
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| AppError::malformed("malformed_json", e.to_string(), None))?;
    if let Some(path) = nul_at(&value, String::new()) {
        // PostgreSQL stores no NUL in text, and no text of ours needs one: refused alike on
        // both stores, before anything is written.
        return Err(AppError::invalid(
            path,
            "text must not contain the NUL character (U+0000)",
        ));
    }
    serde_path_to_error::deserialize(Strict(&value)).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        AppError::malformed("invalid_json", e.inner().to_string(), field)
    })
}

/// Where the first NUL character is in `v` (a key or a string), as a path (`answers.x[2]`).
fn nul_at(v: &Value, at: String) -> Option<String> {
    let here = || {
        if at.is_empty() {
            ".".to_owned()
        } else {
            at.clone()
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(path)
            } else {
                nul_at(item, path)
            }
        }),
        _ => None,
    }
}

/// A parsed JSON value read the way the OpenAPI document's JSON Schema reads it. serde's
/// derived structs also take an array of their fields in order, and `serde_json` refuses
/// `3.0` for an integer; JSON Schema says the first is not an object and the second is the
/// integer 3, and clients generate bodies from the document.
struct Strict<'a>(&'a Value);

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(map) => visitor.visit_map(Fields::new(map)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Fields::new(map)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        // Enums keep serde_json's own forms (a string, or an object with one key); their
        // contents hold no structs of ours.
        self.0.clone().deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// A number as JSON Schema sees it: one with no fraction is an integer, whatever its spelling.
fn visit_number<'de, V: Visitor<'de>>(
    n: &Number,
    visitor: V,
) -> Result<V::Value, serde_json::Error> {
    if let Some(i) = n.as_i64() {
        return visitor.visit_i64(i);
    }
    if let Some(u) = n.as_u64() {
        return visitor.visit_u64(u);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // The bounds are exact in f64 (-2^63 and 2^63), so every value between them converts.
    if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
    {
        #[allow(clippy::cast_possible_truncation)]
        return visitor.visit_i64(f as i64);
    }
    visitor.visit_f64(f)
}

/// What a value is, for "invalid type" errors.
fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => n
            .as_f64()
            .map_or(de::Unexpected::Other("number"), de::Unexpected::Float),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// The elements of an array, each read strictly.
struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The members of an object, each value read strictly.
struct Fields<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            iter: map.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(k.as_str()))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Strict(v)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        roles: Vec<String>,
    }

    fn field_of(r: Result<Body, AppError>) -> Option<String> {
        match r {
            Err(AppError::BadRequest { field, .. }) => field,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Contact {
        name: String,
        rank: i64,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn an_object_is_not_an_array_of_its_fields() {
        assert_eq!(
            field_of(parse(br#"["a", ["viewer"]]"#)),
            None,
            "a body that is an array is refused"
        );
        let nested = parse::<Vec<Contact>>(br#"[["a", 1]]"#);
        assert!(
            matches!(&nested, Err(AppError::BadRequest { field: Some(f), .. }) if f == "[0]"),
            "{:?}",
            nested.err()
        );
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let c: Vec<Contact> =
            parse(br#"[{"name": "a", "rank": 24518.0}, {"name": "b", "rank": -3}]"#)
                .expect("parses");
        assert_eq!(c[0].rank, 24518);
        assert_eq!(c[1].rank, -3);
        let fraction = parse::<Vec<Contact>>(br#"[{"name": "a", "rank": 1.5}]"#);
        assert!(
            matches!(&fraction, Err(AppError::BadRequest { field: Some(f), .. }) if f == "[0].rank"),
            "{:?}",
            fraction.err()
        );
        let huge = parse::<Vec<Contact>>(br#"[{"name": "a", "rank": 1e300}]"#);
        assert!(huge.is_err());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(parse(br#"{"name":"a","roles":[1]}"#)).as_deref(),
            Some("roles[0]")
        );
        assert_eq!(
            field_of(parse(br#"{"name":"a","roles":[],"x":1}"#)).as_deref(),
            Some("x")
        );
        assert!(matches!(
            parse::<Body>(br#"{"name":"#),
            Err(AppError::BadRequest {
                code: "malformed_json",
                ..
            })
        ));
    }
}
