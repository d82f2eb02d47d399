//! Reading a YAML document as a tree and taking typed values out of it, collecting every problem
//! with its field path instead of stopping at the first (raw YAML → validated `Config`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Every problem found in a configuration, each prefixed with its field path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn add(&mut self, path: &str, message: impl std::fmt::Display) {
        if path.is_empty() {
            self.0.push(message.to_string());
        } else {
            self.0.push(format!("{path}: {message}"));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A secret value: never printed by `Debug`, never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a file of at most `max` bytes; a larger one is an error that says the bound (every
/// input has one), not a read that fills the memory.
pub fn read_bounded(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than {} KiB", max >> 10));
    }
    Ok(bytes)
}

/// At most this many nodes once aliases are expanded: a configuration has hundreds, and a
/// 284-byte file of nested aliases once expanded to 1.12 GB.
pub const MAX_YAML_NODES: usize = 100_000;
/// At most this deep (mappings and lists within each other).
pub const MAX_YAML_DEPTH: usize = 64;

/// Counts the nodes a YAML text expands to, aliases included, from the parser's events (linear
/// in the text, whatever the aliases would expand to), and its nesting depth.
#[derive(Default)]
struct NodeCount {
    total: usize,
    /// Per open mapping or list: its anchor and the count when it began.
    open: Vec<(usize, usize)>,
    deepest: usize,
    /// The expanded size of each anchored node.
    anchored: std::collections::HashMap<usize, usize>,
}

impl yaml_rust2::parser::MarkedEventReceiver for NodeCount {
    fn on_event(&mut self, ev: yaml_rust2::parser::Event, _mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::parser::Event;
        match ev {
            Event::Scalar(_, _, anchor, _) => {
                self.total = self.total.saturating_add(1);
                if anchor > 0 {
                    self.anchored.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, self.total));
                self.total = self.total.saturating_add(1);
                self.deepest = self.deepest.max(self.open.len());
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = self.open.pop() {
                    if anchor > 0 {
                        self.anchored.insert(anchor, self.total - start);
                    }
                }
            }
            Event::Alias(anchor) => {
                let n = self.anchored.get(&anchor).copied().unwrap_or(1);
                self.total = self.total.saturating_add(n);
            }
            _ => {}
        }
    }
}

/// Parses YAML text into a JSON-like tree (keys become strings). Aliases are expanded, up to
/// [`MAX_YAML_NODES`] nodes in all and [`MAX_YAML_DEPTH`] levels.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut count = NodeCount::default();
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut count, true)
        .map_err(|e| format!("not valid YAML: {e}"))?;
    if count.total > MAX_YAML_NODES {
        return Err(format!(
            "expands to more than {MAX_YAML_NODES} values (YAML aliases repeat what they point at); write the values out or use fewer aliases"
        ));
    }
    if count.deepest > MAX_YAML_DEPTH {
        return Err(format!(
            "nests mappings and lists {} deep, more than {MAX_YAML_DEPTH}",
            count.deepest
        ));
    }
    let docs =
        yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    match docs.into_iter().next() {
        None => Ok(Value::Object(Default::default())),
        Some(doc) => yaml_to_value(doc),
    }
}

fn yaml_to_value(y: yaml_rust2::Yaml) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    Ok(match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(s)),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(a) => Value::Array(a.into_iter().map(yaml_to_value).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut map = serde_json::Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(r) => r,
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                map.insert(key, yaml_to_value(v)?);
            }
            Value::Object(map)
        }
        Yaml::Null => Value::Null,
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
        Yaml::BadValue => Value::Null,
    })
}

/// Replaces `${NAME}` with the environment variable NAME; `$${` stays a literal `${`.
pub fn interpolate(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
        } else if let Some(stripped) = after.strip_prefix("${") {
            let end = stripped
                .find('}')
                .ok_or_else(|| "unterminated ${ in value".to_string())?;
            let name = &stripped[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a valid environment variable reference"
                ));
            }
            let value =
                env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &stripped[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Context shared by every reader of one load: the problems found and how to read the environment.
pub struct Ctx<'e> {
    pub problems: Problems,
    /// What is accepted but probably not meant (shown by `check-config` and logged at start).
    pub warnings: Vec<String>,
    pub env: &'e dyn Fn(&str) -> Option<String>,
}

/// A mapping in the tree being read. Keys taken are remembered so [`Obj::finish`] can report
/// the unknown ones.
pub struct Obj<'a> {
    path: String,
    map: Option<&'a serde_json::Map<String, Value>>,
    taken: BTreeSet<&'static str>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The YAML type name of a value, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'a> Obj<'a> {
    /// Reads `value` as a mapping at `path`; a null value is an empty mapping.
    pub fn new(value: Option<&'a Value>, path: &str, ctx: &mut Ctx) -> Obj<'a> {
        let map = match value {
            Some(Value::Object(m)) => Some(m),
            None | Some(Value::Null) => None,
            Some(other) => {
                ctx.problems.add(
                    path,
                    format!("expected a mapping, found {}", type_name(other)),
                );
                None
            }
        };
        Obj {
            path: path.to_string(),
            map,
            taken: BTreeSet::new(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The field path of a key of this mapping.
    pub fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw value of a key, marking it as known.
    pub fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.insert(key);
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    /// True if the key is present (and not null).
    pub fn has(&self, key: &str) -> bool {
        self.map
            .and_then(|m| m.get(key))
            .is_some_and(|v| !v.is_null())
    }

    /// A nested mapping.
    pub fn obj(&mut self, key: &'static str, ctx: &mut Ctx) -> Obj<'a> {
        let v = self.raw(key);
        Obj::new(v, &join(&self.path, key), ctx)
    }

    /// An optional string, with `${ENV}` interpolated.
    pub fn opt_str(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<String> {
        let path = join(&self.path, key);
        match self.raw(key)? {
            Value::String(s) => match interpolate(s, ctx.env) {
                Ok(v) => Some(v),
                Err(e) => {
                    ctx.problems.add(&path, e);
                    None
                }
            },
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                ctx.problems.add(
                    &path,
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A required string.
    pub fn str(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<String> {
        if !self.has(key) {
            self.taken.insert(key);
            ctx.problems
                .add(&join(&self.path, key), "missing (required)");
            return None;
        }
        let v = self.opt_str(key, ctx)?;
        if v.trim().is_empty() {
            ctx.problems
                .add(&join(&self.path, key), "must not be empty");
            return None;
        }
        Some(v)
    }

    /// An optional duration such as `30s`, `5m`, `1h`.
    pub fn opt_duration(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<Duration> {
        let path = join(&self.path, key);
        let raw = self.opt_str(key, ctx)?;
        match humantime::parse_duration(raw.trim()) {
            Ok(d) if d.is_zero() => {
                ctx.problems.add(&path, "must be greater than zero");
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                ctx.problems.add(
                    &path,
                    format!("`{raw}` is not a duration (write e.g. 30s, 5m, 1h)"),
                );
                None
            }
        }
    }

    /// An optional duration of at least `min` (a poll interval: below its floor the poller
    /// would do nothing but skip ticks).
    pub fn opt_duration_at_least(
        &mut self,
        key: &'static str,
        min: Duration,
        ctx: &mut Ctx,
    ) -> Option<Duration> {
        let d = self.opt_duration(key, ctx)?;
        if d < min {
            ctx.problems.add(
                &join(&self.path, key),
                format!(
                    "{} is below the floor of {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min)
                ),
            );
            return None;
        }
        Some(d)
    }

    /// An optional number.
    pub fn opt_f64(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<f64> {
        let path = join(&self.path, key);
        let v = self.raw(key)?;
        let parsed = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => interpolate(s, ctx.env)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok()),
            _ => None,
        };
        if parsed.is_none() {
            ctx.problems
                .add(&path, format!("expected a number, found {}", type_name(v)));
        }
        parsed.filter(|f| f.is_finite())
    }

    /// An optional whole number within `range`.
    pub fn opt_u64(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<u64>,
        ctx: &mut Ctx,
    ) -> Option<u64> {
        let path = join(&self.path, key);
        let f = self.opt_f64(key, ctx)?;
        if f.fract() != 0.0 || f < 0.0 || !range.contains(&(f as u64)) {
            ctx.problems.add(
                &path,
                format!(
                    "expected a whole number from {} to {}, found {f}",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        Some(f as u64)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<bool> {
        let path = join(&self.path, key);
        match self.raw(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match interpolate(s, ctx.env).as_deref() {
                Ok("true") => Some(true),
                Ok("false") => Some(false),
                _ => {
                    ctx.problems
                        .add(&path, format!("expected true or false, found `{s}`"));
                    None
                }
            },
            other => {
                ctx.problems.add(
                    &path,
                    format!("expected true or false, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An optional list of strings.
    pub fn opt_str_list(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<Vec<String>> {
        let path = join(&self.path, key);
        match self.raw(key)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => match interpolate(s, ctx.env) {
                            Ok(v) => out.push(v),
                            Err(e) => ctx.problems.add(&format!("{path}[{i}]"), e),
                        },
                        Value::Number(n) => out.push(n.to_string()),
                        other => ctx.problems.add(
                            &format!("{path}[{i}]"),
                            format!("expected a string, found {}", type_name(other)),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                ctx.problems.add(
                    &path,
                    format!("expected a list, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An optional `http(s)://` URL.
    pub fn opt_url(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<reqwest::Url> {
        let path = join(&self.path, key);
        let raw = self.opt_str(key, ctx)?;
        check_url(&raw, &path, ctx)
    }

    /// A required `http(s)://` URL.
    pub fn url(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<reqwest::Url> {
        let path = join(&self.path, key);
        let raw = self.str(key, ctx)?;
        check_url(&raw, &path, ctx)
    }

    /// A secret given either inline (`key`, usually `${ENV}`) or as a file (`key_file`); exactly
    /// one of the two is allowed. The file's trailing newline is removed.
    pub fn secret(
        &mut self,
        key: &'static str,
        file_key: &'static str,
        required: bool,
        ctx: &mut Ctx,
    ) -> Option<Secret> {
        let inline = self.has(key);
        let from_file = self.has(file_key);
        if inline && from_file {
            self.taken.insert(key);
            self.taken.insert(file_key);
            ctx.problems.add(
                &join(&self.path, key),
                format!("give either `{key}` or `{file_key}`, not both"),
            );
            return None;
        }
        if from_file {
            let path = self.opt_str(file_key, ctx)?;
            return match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let line = text.trim_end_matches(['\n', '\r']);
                    // `echo "secret " > file` leaves a space no one means: it is removed, and
                    // said, so a login that fails for it is not a mystery.
                    let value = line.trim_end().to_string();
                    if value.len() < line.len() {
                        ctx.warnings.push(format!(
                            "{}: secret file {path} ends with spaces or tabs; they were removed",
                            join(&self.path, file_key)
                        ));
                    }
                    if value.is_empty() {
                        ctx.problems.add(
                            &join(&self.path, file_key),
                            format!("secret file {path} is empty"),
                        );
                        None
                    } else {
                        Some(Secret(value))
                    }
                }
                Err(e) => {
                    ctx.problems.add(
                        &join(&self.path, file_key),
                        format!("cannot read secret file {path}: {e}"),
                    );
                    None
                }
            };
        }
        self.taken.insert(file_key);
        if inline {
            return self.str(key, ctx).map(Secret);
        }
        self.taken.insert(key);
        if required {
            ctx.problems.add(
                &join(&self.path, key),
                format!("missing (required; or give `{file_key}`)"),
            );
        }
        None
    }

    /// An optional file path that must exist.
    pub fn opt_file(&mut self, key: &'static str, ctx: &mut Ctx) -> Option<PathBuf> {
        let path = join(&self.path, key);
        let raw = self.opt_str(key, ctx)?;
        let p = PathBuf::from(&raw);
        if !p.is_file() {
            ctx.problems.add(
                &path,
                format!("file {raw} does not exist or is not a regular file"),
            );
            return None;
        }
        Some(p)
    }

    /// An optional mapping of names to strings (e.g. HTTP headers), each `${ENV}` interpolated.
    pub fn opt_string_map(
        &mut self,
        key: &'static str,
        ctx: &mut Ctx,
    ) -> Option<Vec<(String, String)>> {
        let path = join(&self.path, key);
        match self.raw(key)? {
            Value::Object(m) => {
                let mut out = Vec::new();
                for (k, v) in m {
                    match v {
                        Value::String(s) => match interpolate(s, ctx.env) {
                            Ok(v) => out.push((k.clone(), v)),
                            Err(e) => ctx.problems.add(&join(&path, k), e),
                        },
                        other => ctx.problems.add(
                            &join(&path, k),
                            format!("expected a string, found {}", type_name(other)),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                ctx.problems.add(
                    &path,
                    format!(
                        "expected a mapping of names to strings, found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// The keys present, in order.
    pub fn keys(&self) -> Vec<&'a str> {
        self.map
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Reports every key that was not taken, suggesting a near known key.
    pub fn finish(self, ctx: &mut Ctx) {
        let Some(map) = self.map else { return };
        for key in map.keys() {
            if self.taken.contains(key.as_str()) {
                continue;
            }
            let suggestion = self
                .taken
                .iter()
                .map(|k| (edit_distance(k, key), *k))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            let known: Vec<&str> = self.taken.iter().copied().collect();
            ctx.problems.add(
                &join(&self.path, key),
                format!(
                    "unknown key{suggestion}; known keys here: {}",
                    known.join(", ")
                ),
            );
        }
    }
}

fn check_url(raw: &str, path: &str, ctx: &mut Ctx) -> Option<reqwest::Url> {
    match reqwest::Url::parse(raw.trim()) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            ctx.problems.add(
                path,
                format!("`{raw}` must be an http:// or https:// URL with a host"),
            );
            None
        }
        Err(e) => {
            ctx.problems.add(path, format!("`{raw}` is not a URL: {e}"));
            None
        }
    }
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_environment_and_escapes() {
        let env = |k: &str| (k == "PW").then(|| "s3cret".to_string());
        assert_eq!(interpolate("a-${PW}-b", &env).as_deref(), Ok("a-s3cret-b"));
        assert_eq!(interpolate("$${PW}", &env).as_deref(), Ok("${PW}"));
        assert_eq!(interpolate("cost $5", &env).as_deref(), Ok("cost $5"));
        assert_eq!(
            interpolate("${NOPE}", &env),
            Err("environment variable NOPE is not set".into())
        );
        assert!(interpolate("${PW", &env).is_err());
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("interval", "intreval"), 2);
        assert_eq!(edit_distance("timeout", "timeout"), 0);
    }
}
