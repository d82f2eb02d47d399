//! Logging: the level and format operators choose (`--log-level`, `--log-format text|logfmt|json`)
//! and, under systemd, a syslog priority prefix on every line, so `journalctl -p warning`
//! filters on it.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text (colour on a terminal).
    Text,
    /// `key=value` pairs (`ts`, `level`, `msg`, then the event's fields), for log pipelines.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// `error`, `warn`, `info`, `debug` or `trace`; anything else is an error (never a silent `info`).
pub fn parse_level(text: &str) -> Result<Level, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(Level::ERROR),
        "warn" | "warning" => Ok(Level::WARN),
        "info" => Ok(Level::INFO),
        "debug" => Ok(Level::DEBUG),
        "trace" => Ok(Level::TRACE),
        other => Err(format!(
            "unknown log level `{other}`: use error, warn, info, debug or trace"
        )),
    }
}

pub fn parse_format(text: &str) -> Result<LogFormat, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        other => Err(format!(
            "unknown log format `{other}`: use text, logfmt or json"
        )),
    }
}

/// The syslog priority of a level, as journald reads it from a `<N>` line prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Whether standard error is the journal's stream: systemd sets `JOURNAL_STREAM=dev:inode` of
/// the stream it connected, which a redirected stderr no longer is.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(want) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    want == format!("{}:{}", meta.dev(), meta.ino())
}

/// Puts `<N>` before each line of the inner format when writing to the journal.
struct Journald<F> {
    inner: F,
    prefix: bool,
}

impl<S, N, F> FormatEvent<S, N> for Journald<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.prefix {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}

/// A logfmt value: bare when it is one word, else quoted with `"` and `\` escaped.
fn logfmt_value(out: &mut String, v: &str) {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control());
    if bare {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Collects an event's fields as logfmt pairs; `message` becomes `msg`.
#[derive(Default)]
struct LogfmtFields {
    msg: String,
    rest: String,
}

impl LogfmtFields {
    fn pair(&mut self, name: &str, value: &str) {
        if name == "message" {
            self.msg = value.to_string();
            return;
        }
        self.rest.push(' ');
        self.rest.push_str(name);
        self.rest.push('=');
        logfmt_value(&mut self.rest, value);
    }
}

impl Visit for LogfmtFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field.name(), &format!("{value:?}"));
    }
}

struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = LogfmtFields::default();
        event.record(&mut fields);
        let mut line = format!(
            "ts={} level={} msg=",
            humantime::format_rfc3339_millis(SystemTime::now()),
            event.metadata().level().as_str().to_ascii_lowercase()
        );
        logfmt_value(&mut line, &fields.msg);
        line.push_str(&fields.rest);
        writeln!(writer, "{line}")
    }
}

/// Installs the global subscriber, writing to standard error.
pub fn init(level: Level, format: LogFormat) {
    let journal = stderr_is_journal();
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            // Colour only on a terminal: the journal and log files get plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .event_format(Journald {
                inner: tracing_subscriber::fmt::format().with_target(false),
                prefix: journal,
            })
            .try_init(),
        LogFormat::Logfmt => builder
            .with_ansi(false)
            .event_format(Journald {
                inner: Logfmt,
                prefix: journal,
            })
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .event_format(Journald {
                inner: tracing_subscriber::fmt::format().json().with_target(false),
                prefix: journal,
            })
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_formats_are_strict() {
        assert_eq!(parse_level("WARN"), Ok(Level::WARN));
        assert!(parse_level("verbose").is_err());
        assert_eq!(parse_format("json"), Ok(LogFormat::Json));
        assert!(parse_format("xml").is_err());
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }

    #[test]
    fn logfmt_values_are_quoted_when_needed() {
        let mut s = String::new();
        logfmt_value(&mut s, "esm");
        s.push(' ');
        logfmt_value(&mut s, "a b=\"c\"\n");
        s.push(' ');
        logfmt_value(&mut s, "");
        assert_eq!(s, r#"esm "a b=\"c\"\n" """#);
    }
}
