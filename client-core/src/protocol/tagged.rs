//! Decoding the frame enums, tagged by `action` inside the object, in one pass.
//!
//! serde's derive for an internally tagged enum buffers the whole object in its private
//! `Content` tree (every key, every header pair, one allocation each) before it knows
//! the variant, then walks that tree again; on a small GET that was 9.3% of the
//! server's CPU (docs/benchmarks.md). Every encoder of ours writes `action` first
//! (serde writes the tag first), so here the first key is read, and when it is `action`
//! the variant is known and its fields are read straight from the rest of the object.
//! An object with `action` elsewhere (a hand-written frame, another implementation) is
//! still accepted: it is buffered as a `serde_json::Value` and read the same way.
//!
//! What is accepted and refused is the derive's: a missing, repeated or unknown
//! `action` is an error, unknown fields are ignored, and the sequence form (`["ping",
//! 5]`) decodes as before. Each enum keeps its fields in one place: the variants are
//! read by a `#[serde(remote)]` twin (`frames_de`) whose derive builds the real enum, so
//! a field missing from the twin does not compile.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer as _, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

/// The field naming the variant.
pub(super) const TAG: &str = "action";

/// An enum read as a variant name and then the variant's fields from `rest`.
pub(super) trait Tagged: Sized {
    /// What an error says was expected (the derive's words).
    const EXPECTING: &'static str;

    /// Reads the variant `tag` from `rest` (the remote twin's derive, fed [`Parts`]).
    fn from_parts<'de, R: Deserializer<'de>>(parts: Parts<'de, R>) -> Result<Self, R::Error>;
}

/// Deserializes an internally tagged `T`.
pub(super) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(TaggedVisitor(PhantomData))
}

/// The variant's name and a deserializer of its fields, as an externally tagged enum
/// is read.
pub(super) struct Parts<'de, R> {
    tag: Cow<'de, str>,
    rest: R,
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        match map.next_key_seed(Text::KEY)? {
            None => Err(de::Error::missing_field(TAG)),
            Some(key) if key == TAG => {
                let tag = map.next_value_seed(Text::VARIANT)?;
                let rest = MapAccessDeserializer::new(NoSecondTag(map));
                T::from_parts(Parts { tag, rest })
            }
            Some(first) => buffered(first, map),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let Some(tag) = seq.next_element_seed(Text::VARIANT)? else {
            return Err(de::Error::missing_field(TAG));
        };
        T::from_parts(Parts {
            tag,
            rest: SeqAccessDeserializer::new(seq),
        })
    }
}

/// An object whose first key is not `action`: the rest is kept as JSON values until the
/// tag turns up. Not the path of any frame we write.
fn buffered<'de, T: Tagged, A: MapAccess<'de>>(
    first: Cow<'de, str>,
    mut map: A,
) -> Result<T, A::Error> {
    let mut object = serde_json::Map::new();
    let mut tag = None;
    object.insert(first.into_owned(), map.next_value()?);
    while let Some(key) = map.next_key_seed(Text::KEY)? {
        if key == TAG {
            if tag.is_some() {
                return Err(de::Error::duplicate_field(TAG));
            }
            tag = Some(map.next_value_seed(Text::VARIANT)?);
        } else if object.contains_key(key.as_ref()) {
            // The derive refuses a repeated field; a map would keep the last quietly.
            return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
        } else {
            let value = map.next_value()?;
            object.insert(key.into_owned(), value);
        }
    }
    let tag = tag.ok_or_else(|| de::Error::missing_field(TAG))?;
    T::from_parts(Parts {
        tag,
        rest: serde_json::Value::Object(object),
    })
    .map_err(de::Error::custom)
}

/// The rest of an object after its leading `action`: a second `action` is refused, as
/// the derive refuses it, instead of being ignored as an unknown field.
struct NoSecondTag<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for NoSecondTag<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.0.next_key_seed(Text::KEY)? {
            None => Ok(None),
            Some(key) if key == TAG => Err(de::Error::duplicate_field(TAG)),
            Some(Cow::Borrowed(key)) => seed
                .deserialize(BorrowedStrDeserializer::new(key))
                .map(Some),
            Some(Cow::Owned(key)) => seed.deserialize(key.into_deserializer()).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A key or the tag's value: borrowed from the input when it holds no escapes.
#[derive(Clone, Copy)]
struct Text {
    /// What an error says was expected, in the derive's words.
    expecting: &'static str,
}

impl Text {
    const KEY: Self = Self {
        expecting: "a string",
    };
    const VARIANT: Self = Self {
        expecting: "variant identifier",
    };
}

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

// The twin's derive asks for an enum; `Parts` hands it the variant from the tag.
impl<'de, R: Deserializer<'de>> Deserializer<'de> for Parts<'de, R> {
    type Error = R::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, R::Error> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

impl<'de, R: Deserializer<'de>> EnumAccess<'de> for Parts<'de, R> {
    type Error = R::Error;
    type Variant = Rest<R>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Rest<R>), R::Error> {
        let variant = seed.deserialize(self.tag.as_ref().into_deserializer())?;
        Ok((variant, Rest(self.rest)))
    }
}

/// The variant's fields: the rest of the object (or sequence).
pub(super) struct Rest<R>(R);

impl<'de, R: Deserializer<'de>> VariantAccess<'de> for Rest<R> {
    type Error = R::Error;

    fn unit_variant(self) -> Result<(), R::Error> {
        <de::IgnoredAny as de::Deserialize>::deserialize(self.0).map(|_| ())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, R::Error> {
        // A newtype variant's struct has its fields beside the tag (`Body`, `Error`).
        seed.deserialize(self.0)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, R::Error> {
        self.0.deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, R::Error> {
        self.0.deserialize_any(visitor)
    }
}
