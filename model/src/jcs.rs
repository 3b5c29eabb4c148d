//! A direct RFC 8785 (JCS) serializer: any `Serialize` value straight to canonical bytes.
//!
//! Why not `serde_json_canonicalizer`: it re-parses every object key through `serde_json::Value`
//! to get its sort key, boxes a writer for every write and keeps each object in a `BTreeSet` of
//! owned buffers; canonicalising one component state cost ~230 µs, three quarters of an import's
//! CPU. This writer emits into one buffer: an object's members are written one after another, then
//! put in order by moving byte ranges when the object ends, so a state costs a few µs.
//!
//! The output is byte-for-byte what `serde_json_canonicalizer` 0.4 writes (the equivalence test
//! below compares both on generated values with tricky keys and numbers), which is what hashes
//! already stored were computed with:
//! - members sorted by the UTF-16 code units of their (unescaped) names; a duplicate name is an
//!   error;
//! - every number written as an IEEE double in ECMAScript form (`ryu-js`): integers beyond 2^53
//!   are rounded, as JCS requires; NaN and infinities are errors;
//! - strings escaped as JSON.stringify does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
//!   controls as `\u00xx`, everything else (`/`, non-ASCII) verbatim.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

use serde::ser::{self, Serialize};

/// Why a value has no canonical JSON form.
#[derive(Debug)]
pub struct JcsError(String);

impl fmt::Display for JcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JcsError {}

impl ser::Error for JcsError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        JcsError(msg.to_string())
    }
}

/// Canonical JSON of `value`, appended to `out`.
pub fn write<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), JcsError> {
    let mut writer = Writer {
        out: std::mem::take(out),
        scratch: Vec::new(),
    };
    let result = value.serialize(&mut writer);
    *out = writer.out;
    result
}

/// Canonical JSON of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out)?;
    Ok(out)
}

struct Writer {
    out: Vec<u8>,
    /// Reused to reorder an object's members.
    scratch: Vec<u8>,
}

/// 2^53: integers below it in magnitude print the same as the double they convert to.
const EXACT_INTEGER: u64 = 1 << 53;

impl Writer {
    fn number(&mut self, value: f64) -> Result<(), JcsError> {
        if !value.is_finite() {
            return Err(JcsError(
                "NaN and +/-Infinity are not permitted in JSON".to_owned(),
            ));
        }
        let mut buffer = ryu_js::Buffer::new();
        self.out
            .extend_from_slice(buffer.format_finite(value).as_bytes());
        Ok(())
    }

    fn unsigned(&mut self, value: u64) -> Result<(), JcsError> {
        if value < EXACT_INTEGER {
            let mut buffer = itoa::Buffer::new();
            self.out.extend_from_slice(buffer.format(value).as_bytes());
            Ok(())
        } else {
            self.number(value as f64)
        }
    }

    fn signed(&mut self, value: i64) -> Result<(), JcsError> {
        if value.unsigned_abs() < EXACT_INTEGER {
            let mut buffer = itoa::Buffer::new();
            self.out.extend_from_slice(buffer.format(value).as_bytes());
            Ok(())
        } else {
            self.number(value as f64)
        }
    }

    fn string(&mut self, value: &str) {
        self.out.push(b'"');
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            let escape: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x08 => b"\\b",
                0x0c => b"\\f",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x00..=0x1f => &[],
                _ => continue,
            };
            self.out.extend_from_slice(&bytes[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
            } else {
                self.out.extend_from_slice(escape);
            }
            start = i + 1;
        }
        self.out.extend_from_slice(&bytes[start..]);
        self.out.push(b'"');
    }

    fn object(&mut self) -> Object<'_> {
        let start = self.out.len();
        Object {
            writer: self,
            start,
            members: Vec::new(),
            pending_key: None,
        }
    }

    fn array(&mut self) -> Array<'_> {
        self.out.push(b'[');
        Array {
            writer: self,
            first: true,
        }
    }
}

/// RFC 8785 member order: by UTF-16 code units. UTF-8 byte order differs from it only when a name
/// holds characters beyond the Basic Multilingual Plane, so ASCII names take the byte comparison.
fn compare_names(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// One written member: its name and where its `"name":value` bytes sit in the output.
struct Member {
    name: MemberName,
    bytes: Range<usize>,
}

enum MemberName {
    Static(&'static str),
    Owned(String),
}

impl MemberName {
    fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Owned(s) => s,
        }
    }
}

/// An object being written: members go to the output unordered and without separators, and
/// [`Object::finish`] rewrites them in canonical order.
struct Object<'w> {
    writer: &'w mut Writer,
    start: usize,
    members: Vec<Member>,
    /// A map key waiting for its value.
    pending_key: Option<String>,
}

impl<'w> Object<'w> {
    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: MemberName,
        value: &T,
    ) -> Result<(), JcsError> {
        let begin = self.writer.out.len();
        self.writer.string(name.as_str());
        self.writer.out.push(b':');
        value.serialize(&mut *self.writer)?;
        let end = self.writer.out.len();
        self.members.push(Member {
            name,
            bytes: begin..end,
        });
        Ok(())
    }

    /// Rewrites the members in canonical order between braces and gives the writer back.
    fn finish(mut self) -> Result<&'w mut Writer, JcsError> {
        self.members
            .sort_by(|a, b| compare_names(a.name.as_str(), b.name.as_str()));
        if let Some(pair) = self
            .members
            .windows(2)
            .find(|pair| pair[0].name.as_str() == pair[1].name.as_str())
        {
            return Err(JcsError(format!(
                "duplicate object key {:?}",
                pair[0].name.as_str()
            )));
        }
        let writer = self.writer;
        writer.scratch.clear();
        writer.scratch.extend_from_slice(&writer.out[self.start..]);
        writer.out.truncate(self.start);
        writer.out.push(b'{');
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                writer.out.push(b',');
            }
            let range = member.bytes.start - self.start..member.bytes.end - self.start;
            writer.out.extend_from_slice(&writer.scratch[range]);
        }
        writer.out.push(b'}');
        Ok(writer)
    }
}

struct Array<'w> {
    writer: &'w mut Writer,
    first: bool,
}

impl<'w> Array<'w> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JcsError> {
        if !self.first {
            self.writer.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.writer)
    }

    fn finish(self) -> &'w mut Writer {
        self.writer.out.push(b']');
        self.writer
    }
}

/// `{"Variant":[…]}` or `{"Variant":{…}}`: the inner value, then the wrapper's closing brace.
struct Wrapped<Inner>(Inner);

impl Writer {
    /// Writes `{"variant":` (a one-member object needs no sorting).
    fn variant_prefix(&mut self, variant: &str) {
        self.out.push(b'{');
        self.string(variant);
        self.out.push(b':');
    }
}

type Done = Result<(), JcsError>;

impl<'w> ser::Serializer for &'w mut Writer {
    type Ok = ();
    type Error = JcsError;
    type SerializeSeq = Array<'w>;
    type SerializeTuple = Array<'w>;
    type SerializeTupleStruct = Array<'w>;
    type SerializeTupleVariant = Wrapped<Array<'w>>;
    type SerializeMap = Object<'w>;
    type SerializeStruct = Object<'w>;
    type SerializeStructVariant = Wrapped<Object<'w>>;

    fn serialize_bool(self, v: bool) -> Done {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Done {
        self.signed(v.into())
    }
    fn serialize_i16(self, v: i16) -> Done {
        self.signed(v.into())
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.signed(v.into())
    }
    fn serialize_i64(self, v: i64) -> Done {
        self.signed(v)
    }
    fn serialize_i128(self, v: i128) -> Done {
        self.number(v as f64)
    }
    fn serialize_u8(self, v: u8) -> Done {
        self.unsigned(v.into())
    }
    fn serialize_u16(self, v: u16) -> Done {
        self.unsigned(v.into())
    }
    fn serialize_u32(self, v: u32) -> Done {
        self.unsigned(v.into())
    }
    fn serialize_u64(self, v: u64) -> Done {
        self.unsigned(v)
    }
    fn serialize_u128(self, v: u128) -> Done {
        self.number(v as f64)
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.number(v.into())
    }
    fn serialize_f64(self, v: f64) -> Done {
        self.number(v)
    }
    fn serialize_char(self, v: char) -> Done {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Done {
        let mut array = self.array();
        for byte in v {
            array.element(byte)?;
        }
        array.finish();
        Ok(())
    }
    fn serialize_none(self) -> Done {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Done {
        self.string(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Done {
        self.variant_prefix(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'w>, JcsError> {
        Ok(self.array())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Array<'w>, JcsError> {
        Ok(self.array())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Array<'w>, JcsError> {
        Ok(self.array())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Wrapped<Array<'w>>, JcsError> {
        self.variant_prefix(variant);
        Ok(Wrapped(self.array()))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'w>, JcsError> {
        Ok(self.object())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'w>, JcsError> {
        Ok(self.object())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Wrapped<Object<'w>>, JcsError> {
        self.variant_prefix(variant);
        Ok(Wrapped(self.object()))
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Wrapped<Array<'_>> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.0.element(value)
    }
    fn end(self) -> Done {
        self.0.finish().out.push(b'}');
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        self.pending_key = Some(key.serialize(MapKey)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| JcsError("a map value came without its key".to_owned()))?;
        self.member(MemberName::Owned(key), value)
    }
    fn end(self) -> Done {
        self.finish().map(drop)
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        self.member(MemberName::Static(key), value)
    }
    fn end(self) -> Done {
        self.finish().map(drop)
    }
}

impl ser::SerializeStructVariant for Wrapped<Object<'_>> {
    type Ok = ();
    type Error = JcsError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        self.0.member(MemberName::Static(key), value)
    }
    fn end(self) -> Done {
        self.0.finish()?.out.push(b'}');
        Ok(())
    }
}

/// Map keys: strings, and what serde_json also accepts as keys (chars, booleans, integers), as
/// their string form. Integers print as the double they stand for, as in values.
struct MapKey;

fn key_error() -> JcsError {
    JcsError("key must be a string".to_owned())
}

impl ser::Serializer for MapKey {
    type Ok = String;
    type Error = JcsError;
    type SerializeSeq = ser::Impossible<String, JcsError>;
    type SerializeTuple = ser::Impossible<String, JcsError>;
    type SerializeTupleStruct = ser::Impossible<String, JcsError>;
    type SerializeTupleVariant = ser::Impossible<String, JcsError>;
    type SerializeMap = ser::Impossible<String, JcsError>;
    type SerializeStruct = ser::Impossible<String, JcsError>;
    type SerializeStructVariant = ser::Impossible<String, JcsError>;

    fn serialize_str(self, v: &str) -> Result<String, JcsError> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, JcsError> {
        Ok(v.to_string())
    }
    fn serialize_bool(self, v: bool) -> Result<String, JcsError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, JcsError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<String, JcsError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<String, JcsError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<String, JcsError> {
        let mut writer = Writer {
            out: Vec::new(),
            scratch: Vec::new(),
        };
        writer.signed(v)?;
        Ok(String::from_utf8(writer.out).expect("digits are ASCII"))
    }
    fn serialize_u8(self, v: u8) -> Result<String, JcsError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<String, JcsError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<String, JcsError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<String, JcsError> {
        let mut writer = Writer {
            out: Vec::new(),
            scratch: Vec::new(),
        };
        writer.unsigned(v)?;
        Ok(String::from_utf8(writer.out).expect("digits are ASCII"))
    }
    fn serialize_f32(self, _v: f32) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, JcsError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, JcsError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, JcsError> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, JcsError> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, JcsError> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, JcsError> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, JcsError> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, JcsError> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, JcsError> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, JcsError> {
        Err(key_error())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{Map, Value, json};

    use super::*;

    fn reference(value: &impl Serialize) -> Option<Vec<u8>> {
        serde_json_canonicalizer::to_vec(value).ok()
    }

    #[test]
    fn sorts_members_and_escapes_like_json_stringify() {
        let v = json!({"b": 1, "a": [true, null, "x\u{1}\n/é"], "c": 1.5, "": {"z": 0, "y": -0.0}});
        assert_eq!(
            String::from_utf8(to_vec(&v).unwrap()).unwrap(),
            r#"{"":{"y":0,"z":0},"a":[true,null,"x\u0001\n/é"],"b":1,"c":1.5}"#
        );
    }

    #[test]
    fn orders_names_by_utf16_code_units_not_bytes() {
        // U+FB01 is one UTF-16 unit 0xFB01; U+1F600 starts with the surrogate 0xD83D, which sorts
        // first in UTF-16 although its UTF-8 bytes sort last.
        let v = json!({"\u{fb01}": 1, "\u{1f600}": 2});
        let out = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(out, "{\"\u{1f600}\":2,\"\u{fb01}\":1}");
        assert_eq!(Some(out.into_bytes()), reference(&v));
    }

    #[test]
    fn numbers_are_doubles_in_ecmascript_form() {
        let v = json!([
            1e21,
            1e-7,
            9007199254740993u64,
            -9007199254740993i64,
            0.1,
            123456789
        ]);
        assert_eq!(to_vec(&v).ok(), reference(&v));
        assert_eq!(
            String::from_utf8(to_vec(&v).unwrap()).unwrap(),
            "[1e+21,1e-7,9007199254740992,-9007199254740992,0.1,123456789]"
        );
        assert!(to_vec(&f64::NAN).is_err());
    }

    #[test]
    fn duplicate_names_are_an_error() {
        #[derive(serde::Serialize)]
        struct Twice {
            a: u8,
            #[serde(flatten)]
            rest: std::collections::BTreeMap<String, u8>,
        }
        let twice = Twice {
            a: 1,
            rest: [("a".to_owned(), 2)].into(),
        };
        assert!(to_vec(&twice).is_err());
        assert!(reference(&twice).is_none());
    }

    #[test]
    fn variants_match_the_reference() {
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, String),
            Struct { z: u8, a: Vec<u8> },
        }
        for e in [
            E::Unit,
            E::New(3),
            E::Tuple(1, "x".into()),
            E::Struct { z: 1, a: vec![2] },
        ] {
            assert_eq!(to_vec(&e).ok(), reference(&e));
        }
        let keyed: std::collections::BTreeMap<u64, bool> = [(3, true), (10, false)].into();
        assert_eq!(to_vec(&keyed).ok(), reference(&keyed));
    }

    fn random_string(rng: &mut StdRng) -> String {
        const PIECES: &[&str] = &[
            "a",
            "b",
            "Z",
            "_",
            "\"",
            "\\",
            "/",
            "\n",
            "\u{1}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "\u{fb01}",
            "\u{1f600}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "0",
            "sha256:",
        ];
        (0..rng.random_range(0..6))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    }

    fn random_value(rng: &mut StdRng, depth: u32) -> Value {
        match rng.random_range(0..if depth > 3 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => json!(rng.random_range(-1_000_000i64..1_000_000)),
            3 => match rng.random_range(0..4) {
                0 => json!(rng.random::<u64>()),
                1 => json!(rng.random::<f64>() * 10f64.powi(rng.random_range(-30..30))),
                2 => json!(-rng.random::<f64>()),
                _ => json!(rng.random::<i64>()),
            },
            4 => Value::String(random_string(rng)),
            5 => Value::Array(
                (0..rng.random_range(0..5))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut map = Map::new();
                for _ in 0..rng.random_range(0..6) {
                    map.insert(random_string(rng), random_value(rng, depth + 1));
                }
                Value::Object(map)
            }
        }
    }

    #[test]
    fn the_example_snapshots_match_the_reference_state_by_state() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots");
        let mut states = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut snapshot: crate::Snapshot = serde_json::from_str(&text).unwrap();
            snapshot.normalize();
            assert_eq!(
                to_vec(&snapshot.header()).ok(),
                reference(&snapshot.header())
            );
            for state in snapshot.component_states().values() {
                assert_eq!(to_vec(state).ok(), reference(state), "{}", path.display());
                states += 1;
            }
            for artifact in &snapshot.artifacts {
                assert_eq!(to_vec(artifact).ok(), reference(artifact));
            }
        }
        assert!(states > 10, "the example snapshots hold states");
    }

    #[test]
    fn generated_values_match_serde_json_canonicalizer_byte_for_byte() {
        let mut rng = StdRng::seed_from_u64(8785);
        for _ in 0..3000 {
            let v = random_value(&mut rng, 0);
            assert_eq!(to_vec(&v).ok(), reference(&v), "{v}");
        }
    }
}
