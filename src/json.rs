//! Reading vendor answers without building a JSON tree: a [`Doc`] is a checked span of the
//! body, its fields and list items are found by scanning, and each list item is deserialised
//! straight into its typed record, one at a time.
//!
//! Why (issue 13, finding F1): a page of 1M small items (11 MB) parsed into `serde_json::Value`
//! and then into records took 3.26 GB, and 6M items 8.75 GB. Here a body costs itself plus its
//! typed records: a list is counted first (nothing kept) and refused past its bound before any
//! record is made, and a record that does not parse is counted and skipped without ending the
//! list. Large bodies are read on a blocking thread ([`off_runtime`]), so a scrape or a
//! shutdown never waits behind a parse, and a read whose poll was given up on stops early.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::collect::{ErrorReason, PollError};

/// A body at most this large is read on the runtime's own thread: it takes well under a
/// millisecond. Larger ones go to a blocking thread.
pub const INLINE_BYTES: usize = 256 * 1024;

/// The most records one answer that is not paged may hold (CloudOS hypervisors, aggregates,
/// flavors, quotas per project, ESXi hosts and VMs per host, ...): ten times the 5,000
/// hypervisors of the largest site headroom is benchmarked on. A list past it is refused
/// before any record is made. Why not more: a record costs up to ~650 bytes however small
/// its item (a hypervisor's fields), so 50,000 items of `{"id":1}` (450 kB) still cost
/// ~33 MB while read; at 200,000 it was 131 MB.
pub const MAX_UNPAGED_ITEMS: usize = 50_000;

/// The largest answer (or part of one) read into a JSON tree: small answers only (an AZ's
/// detail, an overview, quotas, a token). A tree costs 10-100 times its text, so a hostile
/// answer read that way once took 1.4 GB (a version probe answered with a million records).
pub const MAX_TREE_BYTES: usize = 1 << 20;

/// How often (in items) a long read checks whether its poll was given up on.
const CANCEL_CHECK_EVERY: usize = 4096;

/// One JSON value inside a body, checked but not parsed into a tree.
#[derive(Clone, Copy)]
pub struct Doc<'a> {
    raw: &'a RawValue,
}

/// What kind of JSON value a [`Doc`] is, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl fmt::Debug for Doc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Doc({:?}, {} bytes)", self.kind(), self.raw.get().len())
    }
}

impl<'a> Doc<'a> {
    /// Checks `body` is one JSON value (syntax only; nothing is kept but the span).
    pub fn parse(api: &str, body: &'a [u8]) -> Result<Doc<'a>, PollError> {
        serde_json::from_slice::<&RawValue>(body)
            .map(|raw| Doc { raw })
            .map_err(|e| {
                PollError::new(
                    ErrorReason::Parse,
                    format!("{api} answered with invalid JSON ({e})"),
                )
            })
    }

    /// A `null`, for an answer that has no value where one may be.
    pub fn null() -> Doc<'static> {
        Doc {
            raw: RawValue::NULL,
        }
    }

    /// The value's JSON text.
    pub fn text(&self) -> &'a str {
        self.raw.get()
    }

    pub fn kind(&self) -> Kind {
        match self.raw.get().as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// The field `key` of an object (the last one when a key repeats, as `serde_json::Value`
    /// has it); `None` when this is not an object or has no such field.
    pub fn get(&self, key: &str) -> Option<Doc<'a>> {
        if self.kind() != Kind::Object {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(self.raw.get());
        de.deserialize_map(FieldVisitor { key })
            .ok()
            .flatten()
            .map(|raw| Doc { raw })
    }

    /// The fields `keys` of an object in one scan (the last of a repeated key), and how many
    /// fields it has; nothing for anything else.
    pub fn fields<const N: usize>(&self, keys: [&str; N]) -> ([Option<Doc<'a>>; N], usize) {
        if self.kind() != Kind::Object {
            return ([None; N], 0);
        }
        let mut de = serde_json::Deserializer::from_str(self.raw.get());
        de.deserialize_map(FieldsVisitor { keys })
            .unwrap_or(([None; N], 0))
    }

    /// How many fields an object has (0 for anything else).
    pub fn field_count(&self) -> usize {
        if self.kind() != Kind::Object {
            return 0;
        }
        let mut de = serde_json::Deserializer::from_str(self.raw.get());
        de.deserialize_map(CountFields).unwrap_or(0)
    }

    /// The whole value as a tree, for a small answer or part (an AZ's detail, quotas); past
    /// [`MAX_TREE_BYTES`] it is refused (reason `parse`): lists go through [`Doc::records`].
    pub fn tree(&self, api: &str) -> Result<Value, PollError> {
        small(api, self.raw.get().as_bytes())?;
        Ok(self.value())
    }

    /// The value as a tree, unbounded: for parts known to be small (scalars, a code).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }

    /// The value as `T`.
    pub fn to<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.raw.get())
    }

    /// How many items an array has, counted without keeping any; `None` when this is not an
    /// array or `cancel` was set while counting.
    pub fn array_len(&self, cancel: &Cancel) -> Option<usize> {
        if self.kind() != Kind::Array {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(self.raw.get());
        de.deserialize_seq(CountItems { cancel }).ok()
    }

    /// Hands each item of an array to `each` in order (nothing when this is not an array).
    /// Stops early, with `false`, when `cancel` is set.
    pub fn each_item(&self, cancel: &Cancel, each: impl FnMut(Doc<'a>)) -> bool {
        if self.kind() != Kind::Array {
            return true;
        }
        let mut de = serde_json::Deserializer::from_str(self.raw.get());
        de.deserialize_seq(EachItem {
            cancel,
            each,
            _a: PhantomData,
        })
        .unwrap_or(false)
    }

    /// The records of a list: counted first and refused past `bound` (reason `parse`, before
    /// any record is made), then each item read as `T` through `pick` (which may unwrap a
    /// per-item envelope); items that do not parse are counted in [`Records::dropped`].
    pub fn records<T: DeserializeOwned>(
        &self,
        api: &str,
        bound: Bound,
        cancel: &Cancel,
        pick: impl Fn(Doc<'a>) -> Doc<'a>,
    ) -> Result<Records<T>, PollError> {
        let mut out = Records::new(api);
        if self.is_null() {
            return Ok(out);
        }
        let Some(n) = self.array_len(cancel) else {
            if cancel.is_set() {
                return Err(cancelled(api));
            }
            return Err(PollError::new(
                ErrorReason::Parse,
                format!("{api}: the answer's list is not a list"),
            ));
        };
        match bound {
            Bound::Items(max) if n > max => {
                return Err(PollError::new(
                    ErrorReason::Parse,
                    format!("{api} answered {n} records in one list, more than the {max} a list may hold; refusing it"),
                ))
            }
            Bound::Items(_) => {}
            Bound::Page(size) => crate::collect::check_page_len(api, n, size)?,
        }
        out.items.reserve(n);
        if !self.each_item(cancel, |item| out.add(pick(item))) {
            return Err(cancelled(api));
        }
        out.log_dropped();
        Ok(out)
    }
}

/// `body` when it is small enough to read into a tree or a typed record with trees in it (auth
/// answers): at most [`MAX_TREE_BYTES`], else a `parse` error naming the API.
pub fn small<'a>(api: &str, body: &'a [u8]) -> Result<&'a [u8], PollError> {
    if body.len() > MAX_TREE_BYTES {
        return Err(PollError::new(
            ErrorReason::Parse,
            format!(
                "{api} answered {} bytes where headroom reads a small answer (at most {MAX_TREE_BYTES}); refusing it",
                body.len()
            ),
        ));
    }
    Ok(body)
}

fn cancelled(api: &str) -> PollError {
    PollError::new(
        ErrorReason::Timeout,
        format!("reading the answer of {api} was given up on (the poll ended)"),
    )
}

/// How many items a list may hold before it is refused unread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// At most this many (a list that is not paged: [`MAX_UNPAGED_ITEMS`]).
    Items(usize),
    /// One page of a list asked for this many per page (`collect::check_page_len`).
    Page(u64),
}

/// The typed records of a list and how many items did not parse.
#[derive(Debug)]
pub struct Records<T> {
    pub items: Vec<T>,
    pub dropped: usize,
    api: String,
    first_error: Option<String>,
}

impl<T: DeserializeOwned> Records<T> {
    pub fn new(api: &str) -> Records<T> {
        Records {
            items: Vec::new(),
            dropped: 0,
            api: api.to_string(),
            first_error: None,
        }
    }

    /// Items the list held, read or not (paging counts them all).
    pub fn raw_len(&self) -> usize {
        self.items.len() + self.dropped
    }

    /// Reads one item as `T`, or counts it. An item larger than [`MAX_TREE_BYTES`] is not a
    /// record of any platform (some records keep a part as a tree, e.g. a VM's vGPU list): it
    /// is counted without being read.
    pub fn add(&mut self, item: Doc<'_>) {
        if item.text().len() > MAX_TREE_BYTES {
            self.dropped += 1;
            self.first_error
                .get_or_insert_with(|| format!("a record of {} bytes", item.text().len()));
            return;
        }
        match item.to::<T>() {
            Ok(t) => self.items.push(t),
            Err(e) => {
                self.dropped += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Logs the items left out in one line per list, with the first one's error (never the
    /// item, which may carry credentials): a page of 100,000 bad records once logged 100,000
    /// lines. They are never exported as zeros; the caller counts them as dropped values.
    pub fn log_dropped(&mut self) {
        if let Some(first) = self.first_error.take() {
            tracing::warn!(api = %self.api, skipped = self.dropped, first_error = %first, "Skipping records that do not parse.");
        }
    }
}

/// Set when the poll a read belongs to was given up on; the read stops at its next check.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sets its [`Cancel`] when dropped: the future awaiting a blocking read was dropped.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Runs `read` over `body`: on this thread for a small body, on a blocking thread for a large
/// one (a parse of tens of megabytes would hold a runtime worker, and every scrape queued on it,
/// for a second). When the awaiting poll is dropped, `read`'s [`Cancel`] is set so that it stops.
pub async fn off_runtime<R: Send + 'static>(
    api: &'static str,
    body: Vec<u8>,
    read: impl FnOnce(&[u8], &Cancel) -> Result<R, PollError> + Send + 'static,
) -> Result<R, PollError> {
    let cancel = Cancel::default();
    if body.len() <= INLINE_BYTES {
        return read(&body, &cancel);
    }
    let guard = CancelOnDrop(cancel.clone());
    let joined = tokio::task::spawn_blocking(move || read(&body, &cancel)).await;
    drop(guard);
    joined.unwrap_or_else(|e| {
        Err(PollError::new(
            ErrorReason::Internal,
            format!("reading the answer of {api} failed ({e})"),
        ))
    })
}

// ---- the scanning visitors ----

struct FieldVisitor<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for FieldVisitor<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(self.key))? {
            if is_key {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct FieldsVisitor<'k, const N: usize> {
    keys: [&'k str; N],
}

impl<'de, const N: usize> Visitor<'de> for FieldsVisitor<'_, N> {
    type Value = ([Option<Doc<'de>>; N], usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = [None; N];
        let mut count = 0;
        while let Some(at) = map.next_key_seed(KeyAmong(&self.keys))? {
            count += 1;
            match at {
                Some(i) => {
                    found[i] = Some(Doc {
                        raw: map.next_value::<&'de RawValue>()?,
                    })
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((found, count))
    }
}

/// A map key's place among the wanted ones, found without copying it.
struct KeyAmong<'s, 'k>(&'s [&'k str]);

impl<'de> DeserializeSeed<'de> for KeyAmong<'_, '_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyAmong<'_, '_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == s))
    }
}

/// A map key, compared with the wanted one without being copied.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<bool, E> {
        Ok(s == self.0)
    }
}

struct CountFields;

impl<'de> Visitor<'de> for CountFields {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<usize, M::Error> {
        let mut n = 0;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
            n += 1;
        }
        Ok(n)
    }
}

struct CountItems<'c> {
    cancel: &'c Cancel,
}

impl<'de> Visitor<'de> for CountItems<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<usize, S::Error> {
        let mut n = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
            if n % CANCEL_CHECK_EVERY == 0 && self.cancel.is_set() {
                return Err(serde::de::Error::custom("cancelled"));
            }
        }
        Ok(n)
    }
}

struct EachItem<'c, 'a, F> {
    cancel: &'c Cancel,
    each: F,
    _a: PhantomData<&'a ()>,
}

impl<'a, F: FnMut(Doc<'a>)> Visitor<'a> for EachItem<'_, 'a, F> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<S: SeqAccess<'a>>(mut self, mut seq: S) -> Result<bool, S::Error> {
        let mut n = 0usize;
        while let Some(raw) = seq.next_element::<&'a RawValue>()? {
            (self.each)(Doc { raw });
            n += 1;
            if n % CANCEL_CHECK_EVERY == 0 && self.cancel.is_set() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Doc<'_> {
        Doc::parse("t", text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn fields_are_found_by_scanning_and_the_last_repeat_wins() {
        let d = doc(r#"{"a": [1, {"b": 2}], "b": {"c": "x"}, "a\u0062": 3, "b": 7}"#);
        assert_eq!(d.get("b").map(|b| b.value()), Some(json!(7)));
        assert_eq!(d.get("ab").map(|b| b.value()), Some(json!(3)));
        assert_eq!(d.get("a").map(|a| a.kind()), Some(Kind::Array));
        assert!(d.get("c").is_none());
        assert_eq!(d.field_count(), 4);
        let ([a, b, z], n) = d.fields(["a", "b", "z"]);
        assert_eq!(a.map(|a| a.kind()), Some(Kind::Array));
        assert_eq!(b.map(|b| b.value()), Some(json!(7)));
        assert!(z.is_none());
        assert_eq!(n, 4);
        assert!(doc("[1]").get("a").is_none());
        assert!(Doc::parse("t", b"{\"a\":").is_err());
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Row {
        id: u32,
    }

    #[test]
    fn records_are_typed_one_by_one_and_bad_ones_counted() {
        let d = doc(r#"[{"id": 1}, {"id": "x"}, 5, {"id": 3, "more": [1,2]}]"#);
        let r = d
            .records::<Row>("t", Bound::Items(10), &Cancel::default(), |d| d)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.items, vec![Row { id: 1 }, Row { id: 3 }]);
        assert_eq!(r.dropped, 2);
        let none = doc("null").records::<Row>("t", Bound::Items(10), &Cancel::default(), |d| d);
        assert!(none.is_ok_and(|r| r.items.is_empty()));
        assert!(doc("{}")
            .records::<Row>("t", Bound::Items(10), &Cancel::default(), |d| d)
            .is_err());
    }

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
        let body = serde_json::to_string(&items).unwrap_or_default();
        let records = tracing::subscriber::with_default(subscriber, || {
            doc(&body).records::<Row>("hosts", Bound::Items(1000), &Cancel::default(), |d| d)
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((records.items.len(), records.dropped), (500, 500));
        let text = String::from_utf8(lines.0.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("skipped=500"), "{text}");
    }

    #[test]
    fn a_list_past_its_bound_is_refused_before_any_record_is_made() {
        let body = format!("[{}]", [r#"{"id":1}"#; 11].join(","));
        let err = doc(&body)
            .records::<Row>("hypervisors", Bound::Items(10), &Cancel::default(), |d| d)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.reason, ErrorReason::Parse);
        assert!(err.message.contains("11 records"), "{}", err.message);
    }

    #[test]
    fn a_large_answer_is_never_read_into_a_tree() {
        let body = format!("[{}]", vec!["1"; MAX_TREE_BYTES / 2 + 1].join(","));
        let err = doc(&body)
            .tree("probe")
            .err()
            .unwrap_or_else(|| panic!("read"));
        assert_eq!(err.reason, ErrorReason::Parse);
        assert!(err.message.contains("small answer"), "{}", err.message);
        assert_eq!(doc("[1]").tree("t"), Ok(json!([1])));
    }

    #[test]
    fn a_cancelled_read_stops() {
        let body = format!("[{}]", vec!["1"; 10_000].join(","));
        let cancel = Cancel::default();
        cancel.set();
        assert!(doc(&body).array_len(&cancel).is_none());
        let mut seen = 0;
        assert!(!doc(&body).each_item(&cancel, |_| seen += 1));
        assert_eq!(seen, CANCEL_CHECK_EVERY);
    }

    #[tokio::test]
    async fn a_large_body_is_read_on_a_blocking_thread() {
        let body = format!("[{}]", vec![r#"{"id":1}"#; 100_000].join(",")).into_bytes();
        assert!(body.len() > INLINE_BYTES);
        let n = off_runtime("t", body, |b, c| {
            let d = Doc::parse("t", b)?;
            Ok(d.records::<Row>("t", Bound::Items(1_000_000), c, |d| d)?
                .items
                .len())
        })
        .await;
        assert_eq!(n, Ok(100_000));
    }
}
