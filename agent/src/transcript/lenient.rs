//! Serde building blocks that read untrusted transcript JSON with bounded memory and without
//! type errors. A line may be up to 8 MiB (tool output, pasted files); the parser must keep only
//! what a status box needs, so every string is cut while it is read, unknown fields are skipped
//! without allocation, and a field of an unexpected type reads as "absent" instead of failing the
//! whole line (newer gateways change shapes; a box should degrade, not break).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
pub(crate) fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// First `max` chars of `s`, and whether anything was cut.
pub(crate) fn cut_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A value that accepts any JSON and keeps what it understands. Every hook defaults to
/// "consume and forget", so a type only writes the cases it cares about.
pub(crate) trait Lax: Default + Sized {
    fn of_str(_s: &str) -> Self {
        Self::default()
    }
    fn of_bool(_b: bool) -> Self {
        Self::default()
    }
    fn of_u64(_n: u64) -> Self {
        Self::default()
    }
    fn of_i64(n: i64) -> Self {
        u64::try_from(n).map_or_else(|_| Self::default(), Self::of_u64)
    }
    fn of_f64(_n: f64) -> Self {
        Self::default()
    }
    fn of_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        drain_map(map)?;
        Ok(Self::default())
    }
    fn of_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        drain_seq(seq)?;
        Ok(Self::default())
    }
}

struct LaxVisitor<T>(PhantomData<T>);

impl<'de, T: Lax> Visitor<'de> for LaxVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<T, E> {
        Ok(T::of_bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<T, E> {
        Ok(T::of_i64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<T, E> {
        Ok(T::of_u64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<T, E> {
        Ok(T::of_f64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<T, E> {
        Ok(T::of_str(v))
    }
    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::of_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::of_seq(seq)
    }
}

pub(crate) fn lax_deserialize<'de, D: Deserializer<'de>, T: Lax>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(LaxVisitor(PhantomData))
}

macro_rules! lax_deserialize_impl {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                lax_deserialize(d)
            }
        }
    )*};
}

/// A string of at most `MAX` bytes (cut on a char boundary); anything else is `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Str<const MAX: usize>(pub Option<String>);

impl<const MAX: usize> Lax for Str<MAX> {
    fn of_str(s: &str) -> Self {
        Str(Some(cut_bytes(s, MAX).to_owned()))
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Str<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lax_deserialize(d)
    }
}

impl<const MAX: usize> Str<MAX> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
    pub fn eq_str(&self, s: &str) -> bool {
        self.0.as_deref() == Some(s)
    }
}

/// Bytes kept of one text block: enough for the 2000-char assistant text even when every char
/// is multi-byte, and for recognising a JSON error payload.
pub(crate) const TEXT_KEEP_BYTES: usize = 8 * 1024;

/// A text field, kept up to `TEXT_KEEP_BYTES`, remembering whether it was cut.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Text {
    pub text: Option<String>,
    pub cut: bool,
}

impl Lax for Text {
    fn of_str(s: &str) -> Self {
        let kept = cut_bytes(s, TEXT_KEEP_BYTES);
        Text {
            text: Some(kept.to_owned()),
            cut: kept.len() < s.len(),
        }
    }
}

/// A non-negative integer (token counts); floats are accepted when finite, negatives are not.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Count(pub Option<u64>);

impl Lax for Count {
    fn of_u64(n: u64) -> Self {
        Count(Some(n))
    }
    fn of_f64(n: f64) -> Self {
        // `as` saturates, and the range check keeps negatives and NaN out.
        Count((n.is_finite() && n >= 0.0).then_some(n as u64))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Flag(pub Option<bool>);

impl Lax for Flag {
    fn of_bool(b: bool) -> Self {
        Flag(Some(b))
    }
}

/// An entry timestamp: an RFC 3339 string (what gateways write) or, leniently, epoch ms.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Ts(pub Option<i64>);

impl Lax for Ts {
    fn of_str(s: &str) -> Self {
        Ts(crate::clock::parse_rfc3339_ms(s))
    }
    fn of_u64(n: u64) -> Self {
        Ts(i64::try_from(n).ok())
    }
    fn of_i64(n: i64) -> Self {
        Ts(Some(n))
    }
    fn of_f64(n: f64) -> Self {
        Ts((n.is_finite() && n.abs() < 9.0e15).then_some(n as i64))
    }
}

lax_deserialize_impl!(Text, Count, Flag, Ts);

/// An object read into a derived struct `T` (whose fields must all be lax themselves); any
/// other JSON type gives `T::default()`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Obj<T>(pub T);

impl<T: for<'a> Deserialize<'a> + Default> Lax for Obj<T> {
    fn of_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        // The derived impl asks for a struct; MapAccessDeserializer hands it this map, so the
        // object is read in one pass with no intermediate Value.
        T::deserialize(MapAccessDeserializer::new(map)).map(Obj)
    }
}

impl<'de, T: for<'a> Deserialize<'a> + Default> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lax_deserialize(d)
    }
}

/// Like `Obj`, but tells an object from anything else (the top level of a line).
#[derive(Debug, Default)]
pub(crate) struct MaybeObj<T>(pub Option<T>);

impl<T: for<'a> Deserialize<'a> + Default> Lax for MaybeObj<T> {
    fn of_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| MaybeObj(Some(t)))
    }
}

impl<'de, T: for<'a> Deserialize<'a> + Default> Deserialize<'de> for MaybeObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lax_deserialize(d)
    }
}

/// An array of lax items `T`, at most `MAX` kept; a lone string becomes `T::of_str` (user
/// content is a plain string in 2026.7+, an array of blocks before).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct List<T, const MAX: usize>(pub Vec<T>);

/// One element of a `List`, read laxly so a stray string or number in an array is not fatal.
struct Elem<T>(T);

impl<'de, T: Lax> Deserialize<'de> for Elem<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lax_deserialize(d).map(Elem)
    }
}

impl<T: Lax, const MAX: usize> Lax for List<T, MAX> {
    fn of_str(s: &str) -> Self {
        List(vec![T::of_str(s)])
    }
    fn of_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut out = Vec::new();
        while out.len() < MAX {
            match seq.next_element::<Elem<T>>()? {
                Some(Elem(item)) => out.push(item),
                None => return Ok(List(out)),
            }
        }
        drain_seq(seq)?;
        Ok(List(out))
    }
}

impl<'de, T: Lax, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lax_deserialize(d)
    }
}

/// Limits for tool-call arguments: a label needs a path, a command, a task; not a file body.
pub(crate) const ARG_STR_CHARS: usize = 500;
pub(crate) const ARG_MAX_DEPTH: usize = 4;
pub(crate) const ARG_MAX_ITEMS: usize = 32;
pub(crate) const ARG_KEY_BYTES: usize = 128;
pub(crate) const ARG_BUDGET_BYTES: usize = 16 * 1024;

/// Tool-call arguments as a `Value`, bounded while read: strings cut to `ARG_STR_CHARS`,
/// containers deeper than `ARG_MAX_DEPTH` or items past `ARG_MAX_ITEMS` dropped, and a total
/// byte budget after which further values are dropped.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Args(pub Value);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let budget = Cell::new(ARG_BUDGET_BYTES);
        let seed = Bounded {
            depth: 0,
            budget: &budget,
        };
        Ok(Args(seed.deserialize(d)?.unwrap_or(Value::Null)))
    }
}

struct Bounded<'b> {
    depth: usize,
    budget: &'b Cell<usize>,
}

impl Bounded<'_> {
    /// Takes `n` bytes from the budget; false once it is spent.
    fn charge(&self, n: usize) -> bool {
        let left = self.budget.get();
        if left < n {
            self.budget.set(0);
            return false;
        }
        self.budget.set(left - n);
        true
    }

    fn child(&self) -> Bounded<'_> {
        Bounded {
            depth: self.depth + 1,
            budget: self.budget,
        }
    }
}

/// Scalars cost a little so that wide containers of numbers also run out of budget.
const SCALAR_COST: usize = 8;

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(self.charge(SCALAR_COST).then_some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(self.charge(SCALAR_COST).then(|| Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(self.charge(SCALAR_COST).then(|| Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(self
            .charge(SCALAR_COST)
            .then(|| Number::from_f64(v).map(Value::Number))
            .flatten())
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        let (kept, _) = cut_chars(v, ARG_STR_CHARS);
        Ok(self
            .charge(kept.len() + SCALAR_COST)
            .then(|| Value::String(kept.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(self.charge(SCALAR_COST).then_some(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Option<Value>, E> {
        Ok(self.charge(SCALAR_COST).then_some(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        if self.depth >= ARG_MAX_DEPTH || !self.charge(SCALAR_COST) {
            drain_seq(seq)?;
            return Ok(None);
        }
        let mut out = Vec::new();
        while out.len() < ARG_MAX_ITEMS {
            match seq.next_element_seed(self.child())? {
                Some(Some(v)) => out.push(v),
                Some(None) => {}
                None => return Ok(Some(Value::Array(out))),
            }
        }
        drain_seq(seq)?;
        Ok(Some(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        if self.depth >= ARG_MAX_DEPTH || !self.charge(SCALAR_COST) {
            drain_map(map)?;
            return Ok(None);
        }
        let mut out = Map::new();
        let mut seen = 0;
        while seen < ARG_MAX_ITEMS {
            let Some(key) = map.next_key::<Str<ARG_KEY_BYTES>>()? else {
                return Ok(Some(Value::Object(out)));
            };
            seen += 1;
            let value = map.next_value_seed(self.child())?;
            if let (Some(key), Some(value)) = (key.0, value)
                && self.charge(key.len())
            {
                out.insert(key, value);
            }
        }
        drain_map(map)?;
        Ok(Some(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_char_boundaries() {
        assert_eq!(cut_bytes("héllo", 2), "h");
        assert_eq!(cut_bytes("héllo", 3), "hé");
        assert_eq!(cut_bytes("abc", 10), "abc");
        assert_eq!(cut_chars("héllo", 2), ("hé", true));
        assert_eq!(cut_chars("hé", 2), ("hé", false));
    }

    #[test]
    fn wrong_types_read_as_absent() {
        let s: Str<8> = serde_json::from_str("[1,{\"a\":2}]").expect("lax");
        assert_eq!(s.0, None);
        let c: Count = serde_json::from_str("\"12\"").expect("lax");
        assert_eq!(c.0, None);
        let c: Count = serde_json::from_str("-3").expect("lax");
        assert_eq!(c.0, None);
        let c: Count = serde_json::from_str("12.0").expect("lax");
        assert_eq!(c.0, Some(12));
        let f: Flag = serde_json::from_str("{}").expect("lax");
        assert_eq!(f.0, None);
    }

    #[test]
    fn arguments_are_bounded() {
        let long = "x".repeat(10_000);
        let deep = r#"{"a":{"b":{"c":{"d":{"e":1}}}}}"#;
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        let json = format!(
            r#"{{"path":"{long}","deep":{deep},"wide":{{{}}},"list":[{}]}}"#,
            many.join(","),
            (0..100)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let Args(v) = serde_json::from_str(&json).expect("bounded");
        assert_eq!(
            v["path"].as_str().map(|s| s.chars().count()),
            Some(ARG_STR_CHARS)
        );
        // Depth 4 containers: the object holding "e" would be the fifth.
        assert!(v["deep"]["a"]["b"].is_object());
        assert!(v["deep"]["a"]["b"].get("c").is_none());
        assert_eq!(v["wide"].as_object().map(Map::len), Some(ARG_MAX_ITEMS));
        assert_eq!(v["list"].as_array().map(Vec::len), Some(ARG_MAX_ITEMS));

        // The total budget caps memory however many long strings there are.
        let group: Vec<String> = (0..ARG_MAX_ITEMS)
            .map(|i| format!("\"k{i}\":\"{long}\""))
            .collect();
        let group = format!("{{{}}}", group.join(","));
        let Args(v) =
            serde_json::from_str(&format!("{{\"a\":{group},\"b\":{group},\"c\":{group}}}"))
                .expect("ok");
        let kept: Vec<&str> = ["a", "b", "c"]
            .iter()
            .filter_map(|g| v[*g].as_object())
            .flat_map(|o| o.values().filter_map(Value::as_str))
            .collect();
        let total: usize = kept.iter().map(|s| s.len()).sum();
        assert!(total <= ARG_BUDGET_BYTES, "{total}");
        assert!(
            total >= ARG_BUDGET_BYTES - 2 * (ARG_STR_CHARS + 16),
            "{total}"
        );
        assert!(kept.len() < 3 * ARG_MAX_ITEMS);
    }
}
