//! Where in the text a problem is: an index of every key's span, so toml's byte offsets become
//! `file:line:column` and the dotted key path that toml's own errors do not expose.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::super::keys::is_table;
use super::super::{ConfigError, Position};

/// Every key of the document with the byte span of the key itself.
pub(super) struct KeyIndex<'a> {
    text: &'a str,
    pub(super) keys: Vec<(String, Range<usize>)>,
}

impl<'a> KeyIndex<'a> {
    pub(super) fn build(text: &'a str) -> Result<Self, toml::de::Error> {
        let mut keys = Vec::new();
        KeySeed {
            prefix: String::new(),
            out: &mut keys,
        }
        .deserialize(toml::Deserializer::new(text))?;
        Ok(KeyIndex { text, keys })
    }

    pub(super) fn position(&self, key: &str) -> Option<Position> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, span)| Position::of_offset(self.text, span.start))
    }

    /// The key an error at `offset` belongs to: a value follows its key, so the nearest key
    /// starting at or before the offset owns it (for an unknown key, that key itself).
    fn owner(&self, offset: usize) -> Option<&(String, Range<usize>)> {
        self.keys
            .iter()
            .filter(|(_, span)| span.start <= offset)
            .max_by_key(|(_, span)| span.start)
    }
}

/// Walks the document recording key paths and spans; values are only descended into.
struct KeySeed<'v> {
    prefix: String,
    out: &'v mut Vec<(String, Range<usize>)>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<toml::Spanned<String>>()? {
            let path = if self.prefix.is_empty() {
                key.get_ref().clone()
            } else {
                format!("{}.{}", self.prefix, key.get_ref())
            };
            self.out.push((path.clone(), key.span()));
            // A date-time value arrives as a private map whose key has no span; it is a leaf to
            // us (no key takes one), and typing reports it. Nothing else can fail here, the
            // text has already parsed.
            let _ = map.next_value_seed(KeySeed {
                prefix: path,
                out: self.out,
            });
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let element = KeySeed {
                prefix: self.prefix.clone(),
                out: self.out,
            };
            // An element that fails (a date-time) holds no keys; stopping there cannot loop.
            if !matches!(seq.next_element_seed(element), Ok(Some(()))) {
                return Ok(());
            }
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// toml reports syntax errors without a key; recover the table header and the key on the
/// failing line from the text, when they look unambiguous.
fn guess_key(text: &str, offset: usize) -> Option<String> {
    let at = Position::of_offset(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(at.line.checked_sub(1)?)?.trim();
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !bare(key) || key.starts_with('[') {
        return None;
    }
    let header = lines[..at.line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))?;
    let table = header.strip_prefix('[')?.split(']').next()?.trim();
    is_table(table).then(|| format!("{table}.{key}"))
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |s| s.start);
    ConfigError::Syntax {
        path: path.to_path_buf(),
        at: Position::of_offset(text, offset),
        key: guess_key(text, offset),
        message: one_line(e.message()),
    }
}

pub(super) fn schema_error(path: &Path, index: &KeyIndex, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let owner = index.owner(span.start);
    let key = owner.map_or_else(|| "(document)".to_owned(), |(k, _)| k.clone());
    let at = Position::of_offset(index.text, span.start);
    let message = one_line(e.message());
    // serde reports an unknown field at the key's own span; a wrong type at the value's.
    if owner.is_some_and(|(_, key_span)| *key_span == span) {
        ConfigError::UnknownKey {
            path: path.to_path_buf(),
            at,
            key,
            message,
        }
    } else {
        ConfigError::WrongType {
            path: path.to_path_buf(),
            at,
            key,
            message,
        }
    }
}
