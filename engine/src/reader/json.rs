//! Picks the declared fields out of a JSON Lines record in one pass, without building a tree
//! for the whole line: wanted strings are borrowed from the line, everything else is skipped.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Text of one field of a line; `None` for null or absent.
pub(super) type FieldText<'l> = Option<Cow<'l, str>>;

/// The declared dotted paths as a tree of keys; a node may be a field, hold fields, or both.
#[derive(Debug, Default)]
pub(super) struct PathTree {
    field: Option<usize>,
    /// A node has a handful of keys: comparing them beats hashing each key of every line
    /// (SipHash was a twentieth of a clickstream load).
    children: Vec<(String, PathTree)>,
}

impl PathTree {
    /// Field `i` is at `paths[i]` (keys from the top object down).
    pub(super) fn new(paths: &[Vec<String>]) -> Self {
        let mut root = PathTree::default();
        for (index, path) in paths.iter().enumerate() {
            let node = path.iter().fold(&mut root, |node, key| {
                let at = match node.children.iter().position(|(name, _)| name == key) {
                    Some(at) => at,
                    None => {
                        node.children.push((key.clone(), PathTree::default()));
                        node.children.len() - 1
                    }
                };
                &mut node.children[at].1
            });
            node.field = Some(index);
        }
        root
    }

    /// The fields of one line as text, as a CSV field would hold them: strings unescaped
    /// (borrowed when they have no escapes), numbers and booleans as text, nested objects and
    /// arrays as compact JSON, null and absent as `None`. `Ok(false)` when the line is valid
    /// JSON but not an object.
    ///
    /// `found` holds one slot per field; it is reset here, so a file's lines share one.
    pub(super) fn extract<'l>(
        &self,
        line: &'l [u8],
        found: &mut Vec<FieldText<'l>>,
    ) -> Result<bool, serde_json::Error> {
        found.iter_mut().for_each(|slot| *slot = None);
        // One check of the whole line spares serde_json checking each string it borrows (that
        // was 7% of a clickstream parse); a line that is not UTF-8 gets serde_json's error.
        match std::str::from_utf8(line) {
            Ok(text) => self.walk(serde_json::Deserializer::from_str(text), found),
            Err(_) => self.walk(serde_json::Deserializer::from_slice(line), found),
        }
    }

    /// Reads one whole JSON value into `found`; says whether it was an object.
    fn walk<'l, R: serde_json::de::Read<'l>>(
        &self,
        mut reader: serde_json::Deserializer<R>,
        found: &mut Vec<FieldText<'l>>,
    ) -> Result<bool, serde_json::Error> {
        let object = Fields { tree: self, found }.deserialize(&mut reader)?;
        reader.end()?;
        Ok(object)
    }

    /// The node below `key`, if any field is there. Lines of a file mostly write their keys in
    /// the same order, so the key after the last one found, at `*next`, is tried first.
    fn child(&self, key: &str, next: &mut usize) -> Option<&PathTree> {
        let at = match self.children.get(*next) {
            Some((name, _)) if name == key => *next,
            _ => self.children.iter().position(|(name, _)| name == key)?,
        };
        *next = at + 1;
        self.children.get(at).map(|(_, child)| child)
    }

    /// Fields below this node, from a value already parsed (paths into nested objects).
    fn extract_from_value(&self, value: &Value, found: &mut [FieldText<'_>]) {
        if let Some(slot) = self.field.and_then(|index| found.get_mut(index)) {
            *slot = value_text(value).map(|text| Cow::Owned(text.into_owned()));
        }
        if let Value::Object(object) = value {
            for (key, child) in &self.children {
                if let Some(nested) = object.get(key) {
                    child.extract_from_value(nested, found);
                }
            }
        }
    }
}

/// A parsed JSON value as the text a CSV field would hold; null is missing.
fn value_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        nested => Some(Cow::Owned(nested.to_string())),
    }
}

/// Walks one object for the fields of a node; says whether the value was an object.
struct Fields<'t, 'f, 'l> {
    tree: &'t PathTree,
    found: &'f mut Vec<FieldText<'l>>,
}

impl<'de> DeserializeSeed<'de> for Fields<'_, '_, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_, '_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut next = 0;
        while let Some(Key(key)) = map.next_key()? {
            let Some(child) = self.tree.child(key.as_ref(), &mut next) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if child.children.is_empty() {
                let Text(text) = map.next_value()?;
                if let Some(slot) = child.field.and_then(|index| self.found.get_mut(index)) {
                    *slot = text;
                }
            } else {
                // Fields below this key: parse its value (rare: nested attributes).
                let value: Value = map.next_value()?;
                child.extract_from_value(&value, self.found);
            }
        }
        Ok(true)
    }

    // Anything but an object holds no fields.
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// An object key, borrowed from the line unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A field's value as text: strings borrowed when they can be, scalars formatted as a parsed
/// `Value` would print them, nested objects and arrays as compact JSON.
struct Text<'de>(FieldText<'de>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(text))))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(text.to_string()))))
            }
            fn visit_bool<E>(self, flag: bool) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(if flag {
                    "true"
                } else {
                    "false"
                }))))
            }
            fn visit_i64<E>(self, number: i64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(Value::from(number).to_string()))))
            }
            fn visit_u64<E>(self, number: u64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(Value::from(number).to_string()))))
            }
            fn visit_f64<E>(self, number: f64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(Value::from(number).to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
                let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
                let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}
