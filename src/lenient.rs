//! Lenient readers for vendor JSON: numbers that arrive as strings, `"null"`, `""`, and the like.
//!
//! A value is [`Num::Absent`] when the platform did not give it (missing, null, `""`, `"null"`),
//! and [`Num::Invalid`] when it gave something that is not a number; collectors export neither
//! (never as 0) and count the invalid ones as dropped.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A number the vendor may send as a JSON number or a string.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Num {
    #[default]
    Absent,
    Value(f64),
    Invalid,
}

impl Num {
    /// A tree's number, by the same reading as the parser's (one definition for both).
    pub fn from_value(v: &Value) -> Num {
        Num::deserialize(v).unwrap_or(Num::Invalid)
    }

    pub fn get(&self) -> Option<f64> {
        match self {
            Num::Value(v) => Some(*v),
            _ => None,
        }
    }

    pub fn is_invalid(&self) -> bool {
        matches!(self, Num::Invalid)
    }
}

impl Num {
    /// A string's number: blank, `null`, `none` and `-` are absent.
    fn from_str(s: &str) -> Num {
        let t = s.trim();
        if t.is_empty()
            || t.eq_ignore_ascii_case("null")
            || t.eq_ignore_ascii_case("none")
            || t == "-"
        {
            Num::Absent
        } else {
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Num::Value(f),
                _ => Num::Invalid,
            }
        }
    }
}

/// Read straight from the parser (no `Value` per field): what [`Num::from_value`] gives.
impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
        Ok(Num::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Num, E> {
        Ok(Num::Absent)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Num, D::Error> {
        d.deserialize_any(NumVisitor)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
        Ok(Num::Invalid)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num::Value(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num::Value(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(if v.is_finite() {
            Num::Value(v)
        } else {
            Num::Invalid
        })
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Num, E> {
        Ok(Num::from_str(s))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Num, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Num::Invalid)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Num, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Num::Invalid)
    }
}

/// A string the vendor may send as a number, or as `"null"`/`""` when it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub Option<String>);

impl Text {
    /// A tree's text, by the same reading as the parser's (one definition for both).
    pub fn from_value(v: &Value) -> Text {
        Text::deserialize(v).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl Text {
    fn from_str(s: &str) -> Text {
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("null") {
            Text(None)
        } else {
            Text(Some(t.to_string()))
        }
    }
}

/// Read straight from the parser (no `Value` per field): what [`Text::from_value`] gives.
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_any(TextVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    // Numbers are spelt as `serde_json::Number` spells them, as `from_value` does.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(Some(serde_json::Number::from(v).to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(Some(serde_json::Number::from(v).to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(serde_json::Number::from_f64(v).map(|n| n.to_string())))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        Ok(Text::from_str(s))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Text, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Text, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_strings_nulls_and_garbage() {
        assert_eq!(
            Num::from_value(&json!("13.06640625")),
            Num::Value(13.06640625)
        );
        assert_eq!(Num::from_value(&json!(33)), Num::Value(33.0));
        assert_eq!(Num::from_value(&json!("null")), Num::Absent);
        assert_eq!(Num::from_value(&json!("")), Num::Absent);
        assert_eq!(Num::from_value(&json!(null)), Num::Absent);
        assert_eq!(Num::from_value(&json!("Total number")), Num::Invalid);
        assert_eq!(Num::from_value(&json!([1])), Num::Invalid);
        assert_eq!(Text::from_value(&json!("null")), Text(None));
        assert_eq!(Text::from_value(&json!(5)).as_str(), "5");
    }
}
