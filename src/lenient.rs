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

/// The items that parse as `T`, and how many did not. The items left out are never exported
/// as zeros; they are counted (`headroom_collector_dropped_values`) and logged in one line per
/// call with the first one's error (never the item, which may carry credentials): a page of
/// 100,000 bad records once logged 100,000 lines.
pub fn parse_items<T: serde::de::DeserializeOwned>(
    api: &str,
    items: Vec<Value>,
) -> (Vec<T>, usize) {
    let mut out = Vec::with_capacity(items.len());
    let mut dropped = 0;
    let mut first: Option<String> = None;
    for item in items {
        match serde_json::from_value::<T>(item) {
            Ok(t) => out.push(t),
            Err(e) => {
                dropped += 1;
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if let Some(first) = first {
        tracing::warn!(api, skipped = dropped, first_error = %first, "Skipping records that do not parse.");
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_that_do_not_parse_are_counted_and_logged_once_per_call() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Row {
            id: u32,
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let items: Vec<Value> = (0..1000)
            .map(|i| {
                if i % 2 == 0 {
                    json!({"id": i})
                } else {
                    json!({"id": "x"})
                }
            })
            .collect();
        let (rows, dropped) =
            tracing::subscriber::with_default(subscriber, || parse_items::<Row>("hosts", items));
        assert_eq!((rows.len(), dropped), (500, 500));
        let text = String::from_utf8(lines.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("skipped=500"), "{text}");
    }

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
