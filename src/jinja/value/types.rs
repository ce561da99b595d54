//! What kind of Python value a template value is: its type name and whether it is a
//! `namespace`. A leaf of the value layer.

use std::fmt;

use minijinja::value::{Tuple, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// The error of an operation Python refuses (jinja2 raises its TypeError or ValueError): a
/// minijinja `InvalidOperation` carrying the message.
pub fn invalid_operation(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python's type name of a value, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "Undefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq if value.downcast_object_ref::<Tuple>().is_some() => "tuple",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// The pairs of a dict as minijinja builds it (`Value::from_pairs`), borrowed in order: walking
/// them costs no hash lookup per key, as `try_iter` + `get_item` does. None for any other map
/// (a namespace, a dict view), which the caller walks the generic way.
pub fn dict_pairs(value: &Value) -> Option<&indexmap::IndexMap<Value, Value>> {
    value.downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
}

/// The items of a list as minijinja builds it (`Value::from(Vec<Value>)`), borrowed; None for
/// any other sequence (a tuple, a range).
pub fn list_items(value: &Value) -> Option<&[Value]> {
    value.downcast_object_ref::<Vec<Value>>().map(Vec::as_slice)
}

/// minijinja's namespace type is private; its derived `Debug` output, which starts with the type
/// name, is the one way to tell it from a dict (needed for its repr, `is mapping` and `tojson`).
/// Only the first bytes are formatted, so the check costs the same for any size of map.
pub fn is_namespace(value: &Value) -> bool {
    const NAME: &str = "Namespace {";
    let Some(object) = value.as_object().filter(|_| value.kind() == ValueKind::Map) else {
        return false;
    };
    let mut prefix = Prefix { text: String::new(), limit: NAME.len() };
    let _ = fmt::write(&mut prefix, format_args!("{object:?}"));
    prefix.text == NAME
}

/// A writer that keeps the first `limit` bytes and then stops the formatting.
struct Prefix {
    text: String,
    limit: usize,
}

impl fmt::Write for Prefix {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit - self.text.len();
        if s.len() >= room {
            let cut = (0..=room).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            self.text.push_str(&s[..cut]);
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}
