//! The merges of a loaded BPE model, read through its `Serialize` impl (the only public view of
//! them, in priority order after the model's own de-duplication) without serializing the rest of
//! the model: turning the whole model into a `serde_json::Value` also builds the 150k-entry
//! vocabulary map, which cost more than the merges themselves.

use serde::ser::{self, Impossible, Serialize, SerializeStruct, Serializer};
use tokenizers::models::bpe::BPE;

type Merges = Vec<(String, String)>;

/// The model's `merges` field, or None when its serialized form has no such list of pairs.
pub(super) fn merges(bpe: &BPE) -> Option<Merges> {
    bpe.serialize(MergesField).ok().flatten()
}

/// A serializer that accepts only a struct and keeps only its `merges` field.
struct MergesField;

/// The struct being serialized: its `merges`, once seen.
struct Picked(Option<Merges>);

type Unsupported = Impossible<Option<Merges>, serde_json::Error>;

fn not_a_struct<T>() -> Result<T, serde_json::Error> {
    Err(ser::Error::custom("a BPE model serializes as a struct"))
}

/// The `Serializer` methods for everything but a struct: each refuses.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $out:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$out, serde_json::Error> { not_a_struct() })*
    };
}

impl Serializer for MergesField {
    type Ok = Option<Merges>;
    type Error = serde_json::Error;
    type SerializeSeq = Unsupported;
    type SerializeTuple = Unsupported;
    type SerializeTupleStruct = Unsupported;
    type SerializeTupleVariant = Unsupported;
    type SerializeMap = Unsupported;
    type SerializeStruct = Picked;
    type SerializeStructVariant = Unsupported;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Picked, serde_json::Error> {
        Ok(Picked(None))
    }

    refuse! {
        serialize_bool(bool) -> Self::Ok;
        serialize_i8(i8) -> Self::Ok;
        serialize_i16(i16) -> Self::Ok;
        serialize_i32(i32) -> Self::Ok;
        serialize_i64(i64) -> Self::Ok;
        serialize_u8(u8) -> Self::Ok;
        serialize_u16(u16) -> Self::Ok;
        serialize_u32(u32) -> Self::Ok;
        serialize_u64(u64) -> Self::Ok;
        serialize_f32(f32) -> Self::Ok;
        serialize_f64(f64) -> Self::Ok;
        serialize_char(char) -> Self::Ok;
        serialize_str(&str) -> Self::Ok;
        serialize_bytes(&[u8]) -> Self::Ok;
        serialize_none() -> Self::Ok;
        serialize_unit() -> Self::Ok;
        serialize_unit_struct(&'static str) -> Self::Ok;
        serialize_unit_variant(&'static str, u32, &'static str) -> Self::Ok;
        serialize_seq(Option<usize>) -> Unsupported;
        serialize_tuple(usize) -> Unsupported;
        serialize_tuple_struct(&'static str, usize) -> Unsupported;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Unsupported;
        serialize_map(Option<usize>) -> Unsupported;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Unsupported;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Self::Ok, serde_json::Error> {
        not_a_struct()
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, serde_json::Error> {
        not_a_struct()
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, serde_json::Error> {
        not_a_struct()
    }
}

impl SerializeStruct for Picked {
    type Ok = Option<Merges>;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        // Every other field, the vocabulary included, is skipped without being serialized.
        if key == "merges" {
            self.0 = Some(serde_json::from_value(serde_json::to_value(value)?)?);
        }
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, serde_json::Error> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The merges read this way are the `merges` of the whole model's serialized form.
    #[test]
    fn same_merges_as_the_whole_serialized_model() {
        let model = r#"{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
            "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
            "vocab":{"a":0,"b":1,"c":2,"ab":3,"abc":4,"bc":5},"merges":["a b","ab c","b c"]}"#;
        let bpe: BPE = serde_json::from_str(model).unwrap();
        let whole = serde_json::to_value(&bpe).unwrap();
        let expected: Merges = serde_json::from_value(whole["merges"].clone()).unwrap();
        assert_eq!(merges(&bpe).unwrap(), expected);
        assert_eq!(expected.len(), 3);
    }
}
