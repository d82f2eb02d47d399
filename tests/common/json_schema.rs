//! A JSON Schema (draft 7) checker for the keywords Grafana's dashboard schema uses (`$ref` to
//! `#/definitions/…`, `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `const`, `anyOf`): enough to validate the dashboards without a schema crate in the build.

use serde_json::Value;

/// Every violation of `schema` by `value`, each with the JSON path where it is.
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, schema, value, "$", &mut out);
    out
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/definitions/")
        .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
    &root["definitions"][name]
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|n| n.fract() == 0.0),
        other => panic!("unsupported type {other}"),
    }
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        return; // `true` or `{}`: anything goes.
    };
    for key in s.keys() {
        assert!(
            [
                "$ref",
                "$schema",
                "type",
                "properties",
                "required",
                "additionalProperties",
                "items",
                "enum",
                "const",
                "anyOf",
                "description",
                "definitions",
            ]
            .contains(&key.as_str()),
            "unsupported schema keyword {key}"
        );
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        check(root, resolve(root, r), v, path, out);
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, v),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, v)),
            _ => true,
        };
        if !ok {
            out.push(format!("{path}: expected type {t}, found {v}"));
            return;
        }
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            out.push(format!(
                "{path}: {v} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            out.push(format!("{path}: {v} is not {c}"));
        }
    }
    if let Some(options) = s.get("anyOf").and_then(Value::as_array) {
        let fits = options.iter().any(|o| {
            let mut sub = Vec::new();
            check(root, o, v, path, &mut sub);
            sub.is_empty()
        });
        if !fits {
            out.push(format!("{path}: matches none of the allowed shapes"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for name in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = name.as_str() {
                if !obj.contains_key(n) {
                    out.push(format!("{path}: required property {n} is missing"));
                }
            }
        }
        for (k, x) in obj {
            let at = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, x, &at, out),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        out.push(format!("{path}: property {k} is not allowed"))
                    }
                    Some(extra) => check(root, extra, x, &at, out),
                    None => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            let item_schema = match items {
                Value::Array(per_index) => per_index.get(i).unwrap_or(&Value::Bool(true)),
                one => one,
            };
            check(root, item_schema, x, &format!("{path}[{i}]"), out);
        }
    }
}
