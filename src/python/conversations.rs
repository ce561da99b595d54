//! Python objects -> template values and options, checked while attached to the interpreter.
//! Nothing Python survives the conversion, so templates can never reach a Python object.
//!
//! Conversations are copied out as plain data (`PlainConversation`), every check done and every
//! error raised here; building their template values is left to each conversation's parallel
//! task, so the part that holds the interpreter is only the walk and one copy of the text.

use std::borrow::Cow;
use std::ops::Range;

use minijinja::value::{Tuple, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::error::{Error, ErrorKind};
use crate::limits::Limits;
use crate::mask::conversation::{Conversation, ToConversation};

/// A batch: a list of conversations, each a list of messages.
pub fn conversations_from_py(batch: &Bound<'_, PyAny>, limits: &Limits) -> PyResult<Vec<PlainConversation>> {
    conversation_items(batch)?
        .iter()
        .enumerate()
        .map(|(index, conversation)| Ok(conversation_at(conversation, index, limits)?))
        .collect()
}

/// The conversations of a batch of Python objects, unbound: converted one by one, attached, while
/// the pool already encodes those converted (`mask::encoder::encode_produced`).
pub fn batch_items(batch: &Bound<'_, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
    Ok(conversation_items(batch)?.into_iter().map(Bound::unbind).collect())
}

fn conversation_items<'py>(batch: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    Ok(sequence_items(batch).ok_or_else(|| {
        Error::input(format!("conversations must be a list of conversations, got {}", type_name(batch)))
    })?)
}

/// Conversation `index` of a batch.
pub fn conversation_at(
    conversation: &Bound<'_, PyAny>,
    index: usize,
    limits: &Limits,
) -> Result<PlainConversation, Error> {
    conversation_from_py(conversation, limits).map_err(|err| err.in_conversation(index))
}

fn conversation_from_py(conversation: &Bound<'_, PyAny>, limits: &Limits) -> Result<PlainConversation, Error> {
    let messages = sequence_items(conversation).ok_or_else(|| {
        Error::input(format!("a conversation must be a list of messages, got {}", type_name(conversation)))
    })?;
    // One budget for the whole conversation: its text, however it is split into messages.
    let mut walk = Walk::new(limits);
    let messages = messages
        .iter()
        .enumerate()
        .map(|(index, message)| walk.extract(message).map_err(|err| err.in_message(index)))
        .collect::<Result<Vec<Plain>, Error>>()?;
    Ok(PlainConversation { text: walk.text, messages })
}

/// One conversation as plain data: the structure of its messages, with every string a range of
/// `text`, which holds all of them back to back.
pub struct PlainConversation {
    text: String,
    messages: Vec<Plain>,
}

impl ToConversation for PlainConversation {
    fn to_conversation(&self) -> Result<Cow<'_, Conversation>, Error> {
        Ok(Cow::Owned(Conversation { messages: self.messages.iter().map(|m| m.to_value(&self.text)).collect() }))
    }
}

/// A conversation as a call received it: template values already (read from Arrow by
/// `crate::arrow`), or plain data copied out of Python objects (values built in its task).
pub enum InputConversation {
    Values(Conversation),
    Plain(PlainConversation),
}

impl ToConversation for InputConversation {
    fn to_conversation(&self) -> Result<Cow<'_, Conversation>, Error> {
        match self {
            InputConversation::Values(conversation) => Ok(Cow::Borrowed(conversation)),
            InputConversation::Plain(plain) => plain.to_conversation(),
        }
    }
}

/// A Python value as plain data; `to_value` gives the template value the conversion defines.
enum Plain {
    None,
    Bool(bool),
    Int(i64),
    Int128(i128),
    UInt128(u128),
    Float(f64),
    /// A string: its bytes in the conversation's text.
    Str(Range<usize>),
    List(Vec<Plain>),
    Tuple(Vec<Plain>),
    Map(Vec<(Plain, Plain)>),
}

impl Plain {
    fn to_value(&self, text: &str) -> Value {
        match self {
            Plain::None => Value::from(()),
            Plain::Bool(flag) => Value::from(*flag),
            Plain::Int(int) => Value::from(*int),
            Plain::Int128(int) => Value::from(*int),
            Plain::UInt128(int) => Value::from(*int),
            Plain::Float(float) => Value::from(*float),
            Plain::Str(range) => Value::from(&text[range.clone()]),
            Plain::List(items) => Value::from(values(items, text)),
            Plain::Tuple(items) => Value::from(Tuple::from(values(items, text))),
            Plain::Map(pairs) => Value::from_pairs(
                pairs.iter().map(|(key, value)| (key.to_value(text), value.to_value(text))).collect::<Vec<_>>(),
            ),
        }
    }
}

fn values(items: &[Plain], text: &str) -> Vec<Value> {
    items.iter().map(|item| item.to_value(text)).collect()
}

/// Template variables given as a dict of names to values.
pub fn template_kwargs_from_py(dict: &Bound<'_, PyDict>, limits: &Limits) -> Result<Vec<(String, Value)>, Error> {
    let mut walk = Walk::new(limits);
    dict.iter()
        .map(|(key, value)| {
            let name = key
                .cast::<PyString>()
                .map_err(|_| Error::input(format!("template variable names must be strings, got {}", type_name(&key))))?
                .to_str()
                .map_err(|_| Error::input("a template variable name is not valid UTF-8"))?
                .to_string();
            let value = walk.convert(&value).map_err(|err| prefixed(err, &format!("template variable {name:?}")))?;
            Ok((name, value))
        })
        .collect()
}

/// Converts JSON-like Python data. Other objects become `"<TypeName>"`, as transformers'
/// `_plain_template_data` does.
pub fn py_to_value(obj: &Bound<'_, PyAny>, limits: &Limits) -> Result<Value, Error> {
    Walk::new(limits).convert(obj)
}

fn prefixed(err: Error, context: &str) -> Error {
    Error { message: format!("{context}: {}", err.message), ..err }
}

/// One conversion: the input limits, the text budget left, the containers on the current path
/// (to tell a self-referencing dict or list from one that is merely deep), and the text of every
/// string met so far.
struct Walk<'a> {
    limits: &'a Limits,
    bytes_left: usize,
    path: Vec<*mut pyo3::ffi::PyObject>,
    text: String,
}

impl<'a> Walk<'a> {
    fn new(limits: &'a Limits) -> Self {
        Walk { limits, bytes_left: limits.input_bytes, path: Vec::new(), text: String::new() }
    }

    /// A template value right away (for the inputs shared by a whole call).
    fn convert(&mut self, obj: &Bound<'_, PyAny>) -> Result<Value, Error> {
        let start = self.text.len();
        let value = self.extract(obj)?.to_value(&self.text);
        self.text.truncate(start);
        Ok(value)
    }

    fn extract(&mut self, obj: &Bound<'_, PyAny>) -> Result<Plain, Error> {
        self.plain(obj).map_err(|(kind, message)| Error::new(kind, message))
    }

    fn charge(&mut self, bytes: usize) -> Result<(), (ErrorKind, String)> {
        match self.bytes_left.checked_sub(bytes) {
            Some(left) => {
                self.bytes_left = left;
                Ok(())
            }
            None => {
                Err((ErrorKind::Limit, format!("input limit: more than {} bytes of text", self.limits.input_bytes)))
            }
        }
    }

    fn push_text(&mut self, text: &str) -> Plain {
        let start = self.text.len();
        self.text.push_str(text);
        Plain::Str(start..self.text.len())
    }

    fn plain(&mut self, obj: &Bound<'_, PyAny>) -> Result<Plain, (ErrorKind, String)> {
        let input = |message: &str| (ErrorKind::Input, message.to_string());
        if obj.is_none() {
            return Ok(Plain::None);
        }
        if let Ok(text) = obj.cast::<PyString>() {
            let text = text.to_str().map_err(|_| input("string is not valid UTF-8 (it contains a lone surrogate)"))?;
            self.charge(text.len())?;
            return Ok(self.push_text(text));
        }
        if let Ok(flag) = obj.cast::<PyBool>() {
            return Ok(Plain::Bool(flag.is_true()));
        }
        if let Ok(int) = obj.cast::<PyInt>() {
            return int_to_plain(int).map_err(|message| input(&message));
        }
        if let Ok(float) = obj.cast::<PyFloat>() {
            return Ok(Plain::Float(float.value()));
        }
        let is_dict = obj.cast::<PyDict>().is_ok();
        let items = if is_dict { None } else { sequence_items(obj) };
        if !is_dict && items.is_none() {
            return Ok(self.push_text(&format!("<{}>", type_name(obj))));
        }
        if self.path.contains(&obj.as_ptr()) {
            return Err((ErrorKind::Limit, "input limit: a dict or list contains itself".to_string()));
        }
        if self.path.len() >= self.limits.input_depth {
            return Err((
                ErrorKind::Limit,
                format!("input limit: nested deeper than {} levels", self.limits.input_depth),
            ));
        }
        self.path.push(obj.as_ptr());
        let value = match items {
            None => self.dict_to_plain(obj),
            Some(items) => self.sequence_to_plain(obj, &items),
        };
        self.path.pop();
        value
    }

    fn dict_to_plain(&mut self, obj: &Bound<'_, PyAny>) -> Result<Plain, (ErrorKind, String)> {
        let dict = obj.cast::<PyDict>().map_err(|_| (ErrorKind::Input, "not a dict".to_string()))?;
        let mut pairs = Vec::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let key_plain = self.plain(&key)?;
            let item = self.plain(&value).map_err(|err| at_path(err, || format!("key {}", key_label(&key))))?;
            pairs.push((key_plain, item));
        }
        Ok(Plain::Map(pairs))
    }

    fn sequence_to_plain(
        &mut self,
        obj: &Bound<'_, PyAny>,
        items: &[Bound<'_, PyAny>],
    ) -> Result<Plain, (ErrorKind, String)> {
        let values = items
            .iter()
            .enumerate()
            .map(|(index, item)| self.plain(item).map_err(|err| at_path(err, || format!("item {index}"))))
            .collect::<Result<Vec<Plain>, _>>()?;
        // transformers keeps tuples: a template printing one shows `(...,)`, and tuple methods apply.
        if obj.is_instance_of::<PyTuple>() {
            return Ok(Plain::Tuple(values));
        }
        Ok(Plain::List(values))
    }
}

/// Prefixes where in the value an input error is; limit errors (nesting, cycles, size) keep
/// their message short, as the path would repeat once per level.
fn at_path((kind, message): (ErrorKind, String), place: impl FnOnce() -> String) -> (ErrorKind, String) {
    match kind {
        ErrorKind::Limit => (kind, message),
        _ => (kind, format!("{}: {message}", place())),
    }
}

fn int_to_plain(int: &Bound<'_, PyInt>) -> Result<Plain, String> {
    if let Ok(small) = int.extract::<i64>() {
        return Ok(Plain::Int(small));
    }
    if let Ok(big) = int.extract::<i128>() {
        return Ok(Plain::Int128(big));
    }
    if let Ok(big) = int.extract::<u128>() {
        return Ok(Plain::UInt128(big));
    }
    Err("integer does not fit in 128 bits".to_string())
}

/// The items of a list or tuple (not of strings, dicts or other iterables).
fn sequence_items<'py>(obj: &Bound<'py, PyAny>) -> Option<Vec<Bound<'py, PyAny>>> {
    if let Ok(list) = obj.cast::<PyList>() {
        return Some(list.iter().collect());
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Some(tuple.iter().collect());
    }
    None
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "object".into())
}

fn key_label(key: &Bound<'_, PyAny>) -> String {
    match key.cast::<PyString>().ok().and_then(|s| s.to_str().ok().map(str::to_string)) {
        Some(text) => format!("{text:?}"),
        None => type_name(key),
    }
}
