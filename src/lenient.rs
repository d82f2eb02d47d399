//! Lenient readers for vendor JSON: numbers that arrive as strings, `"null"`, `""`, and the like.
//!
//! A value is [`Num::Absent`] when the platform did not give it (missing, null, `""`, `"null"`),
//! and [`Num::Invalid`] when it gave something that is not a number; collectors export neither
//! (never as 0) and count the invalid ones as dropped.

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
    pub fn from_value(v: &Value) -> Num {
        match v {
            Value::Null => Num::Absent,
            Value::Number(n) => n.as_f64().map_or(Num::Invalid, Num::Value),
            Value::String(s) => {
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
            _ => Num::Invalid,
        }
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

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        Ok(Num::from_value(&Value::deserialize(d)?))
    }
}

/// A string the vendor may send as a number, or as `"null"`/`""` when it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub Option<String>);

impl Text {
    pub fn from_value(v: &Value) -> Text {
        match v {
            Value::String(s) => {
                let t = s.trim();
                if t.is_empty() || t.eq_ignore_ascii_case("null") {
                    Text(None)
                } else {
                    Text(Some(t.to_string()))
                }
            }
            Value::Number(n) => Text(Some(n.to_string())),
            Value::Bool(b) => Text(Some(b.to_string())),
            _ => Text(None),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        Ok(Text::from_value(&Value::deserialize(d)?))
    }
}

/// The items that parse as `T`, and how many did not; each failure is logged (never the item,
/// which may carry credentials) and the item is left out, never exported as zeros.
pub fn parse_items<T: serde::de::DeserializeOwned>(
    api: &str,
    items: Vec<Value>,
) -> (Vec<T>, usize) {
    let mut out = Vec::with_capacity(items.len());
    let mut dropped = 0;
    for item in items {
        match serde_json::from_value::<T>(item) {
            Ok(t) => out.push(t),
            Err(e) => {
                dropped += 1;
                tracing::warn!(api, error = %e, "Skipping a record that does not parse.");
            }
        }
    }
    (out, dropped)
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
