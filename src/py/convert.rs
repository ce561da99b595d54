//! Python objects -> template values and options, checked while attached to the interpreter.
//! Nothing Python survives the conversion, so templates can never reach a Python object.

use minijinja::value::{Tuple, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::encode::{EncodeOptions, PaddingStrategy, Side};
use crate::error::Error;
use crate::input::Conversation;
use crate::turns::{MaskPlan, MaskSource, TurnOptions, TurnStart};

/// Deepest nesting accepted in a message, tool or kwarg; deeper input (or a cycle) is an error.
pub const MAX_DEPTH: usize = 200;

/// A batch: a list of conversations, each a list of messages.
pub fn conversations_from_py(batch: &Bound<'_, PyAny>) -> PyResult<Vec<Conversation>> {
    let items = sequence_items(batch).ok_or_else(|| {
        Error::input(format!("conversations must be a list of conversations, got {}", type_name(batch)))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(index, conversation)| conversation_from_py(conversation).map_err(|err| err.in_conversation(index).into()))
        .collect()
}

/// A batch converted item by item: a malformed conversation is its own error, not the batch's.
pub fn conversations_from_py_each(batch: &Bound<'_, PyAny>) -> PyResult<Vec<Result<Conversation, Error>>> {
    let items = sequence_items(batch).ok_or_else(|| {
        Error::input(format!("conversations must be a list of conversations, got {}", type_name(batch)))
    })?;
    Ok(items
        .iter()
        .enumerate()
        .map(|(index, conversation)| conversation_from_py(conversation).map_err(|err| err.in_conversation(index)))
        .collect())
}

fn conversation_from_py(conversation: &Bound<'_, PyAny>) -> Result<Conversation, Error> {
    let messages = sequence_items(conversation).ok_or_else(|| {
        Error::input(format!("a conversation must be a list of messages, got {}", type_name(conversation)))
    })?;
    let messages = messages
        .iter()
        .enumerate()
        .map(|(index, message)| py_to_value(message).map_err(|msg| Error::input(format!("message {index}: {msg}"))))
        .collect::<Result<Vec<Value>, Error>>()?;
    Ok(Conversation { messages })
}

/// Template variables given as a dict of names to values.
pub fn template_kwargs_from_py(dict: &Bound<'_, PyDict>) -> Result<Vec<(String, Value)>, String> {
    dict.iter()
        .map(|(key, value)| {
            let name = key
                .cast::<PyString>()
                .map_err(|_| format!("template variable names must be strings, got {}", type_name(&key)))?
                .to_str()
                .map_err(|_| "a template variable name is not valid UTF-8".to_string())?
                .to_string();
            let value = py_to_value(&value).map_err(|msg| format!("template variable {name:?}: {msg}"))?;
            Ok((name, value))
        })
        .collect()
}

/// Converts JSON-like Python data. Other objects become `"<TypeName>"`, as transformers'
/// `_plain_template_data` does.
pub fn py_to_value(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    to_value(obj, 0)
}

fn to_value(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels (or contains itself)"));
    }
    if obj.is_none() {
        return Ok(Value::from(()));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return text
            .to_str()
            .map(Value::from)
            .map_err(|_| "string is not valid UTF-8 (it contains a lone surrogate)".to_string());
    }
    if let Ok(flag) = obj.cast::<PyBool>() {
        return Ok(Value::from(flag.is_true()));
    }
    if let Ok(int) = obj.cast::<PyInt>() {
        return int_to_value(int);
    }
    if let Ok(float) = obj.cast::<PyFloat>() {
        return Ok(Value::from(float.value()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut pairs = Vec::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            let key_value = to_value(&key, depth + 1)?;
            let item = to_value(&value, depth + 1).map_err(|msg| format!("key {}: {msg}", key_label(&key)))?;
            pairs.push((key_value, item));
        }
        return Ok(Value::from_pairs(pairs));
    }
    if let Some(items) = sequence_items(obj) {
        let values = items
            .iter()
            .enumerate()
            .map(|(index, item)| to_value(item, depth + 1).map_err(|msg| format!("item {index}: {msg}")))
            .collect::<Result<Vec<Value>, String>>()?;
        // transformers keeps tuples: a template printing one shows `(...,)`, and tuple methods apply.
        if obj.is_instance_of::<PyTuple>() {
            return Ok(Value::from(Tuple::from(values)));
        }
        return Ok(Value::from(values));
    }
    Ok(Value::from(format!("<{}>", type_name(obj))))
}

fn int_to_value(int: &Bound<'_, PyInt>) -> Result<Value, String> {
    if let Ok(small) = int.extract::<i64>() {
        return Ok(Value::from(small));
    }
    if let Ok(big) = int.extract::<i128>() {
        return Ok(Value::from(big));
    }
    if let Ok(big) = int.extract::<u128>() {
        return Ok(Value::from(big));
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

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "object".into())
}

fn key_label(key: &Bound<'_, PyAny>) -> String {
    match key.cast::<PyString>().ok().and_then(|s| s.to_str().ok().map(str::to_string)) {
        Some(text) => format!("{text:?}"),
        None => type_name(key),
    }
}

fn side(value: &str, option: &str) -> Result<Side, Error> {
    match value {
        "left" => Ok(Side::Left),
        "right" => Ok(Side::Right),
        other => Err(Error::input(format!("{option} must be 'left' or 'right', got {other:?}"))),
    }
}

fn padding_strategy(value: &str) -> Result<PaddingStrategy, Error> {
    match value {
        "do_not_pad" => Ok(PaddingStrategy::DoNotPad),
        "longest" => Ok(PaddingStrategy::Longest),
        "max_length" => Ok(PaddingStrategy::MaxLength),
        other => Err(Error::input(format!("padding must be False, True, 'longest' or 'max_length', got {other:?}"))),
    }
}

pub fn encode_options(
    max_length: Option<usize>,
    truncation: bool,
    truncation_side: &str,
    padding: &str,
    padding_side: &str,
    ignore_index: i64,
    pad_id: Option<u32>,
) -> Result<EncodeOptions, Error> {
    Ok(EncodeOptions {
        max_length,
        truncation,
        truncation_side: side(truncation_side, "truncation_side")?,
        padding: padding_strategy(padding)?,
        padding_side: side(padding_side, "padding_side")?,
        pad_id,
        ignore_index,
    })
}

/// The mask options of `encode_batch` / `render_batch`.
#[pyclass(frozen, module = "fastmask._core", name = "MaskOptions", from_py_object)]
#[derive(Clone)]
pub struct PyMaskOptions {
    pub plan: MaskPlan,
}

#[pymethods]
impl PyMaskOptions {
    #[new]
    #[pyo3(signature = (*, mask_source="generation", train_roles=None, train_key=Some("train".to_string()),
        last_turn_only=false, mask_end_of_turn=true, mask_separator=true, turn_start="content", mask_header_whitespace=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mask_source: &str,
        train_roles: Option<Vec<String>>,
        train_key: Option<String>,
        last_turn_only: bool,
        mask_end_of_turn: bool,
        mask_separator: bool,
        turn_start: &str,
        mask_header_whitespace: bool,
    ) -> PyResult<Self> {
        let source = match mask_source {
            "generation" => MaskSource::Generation,
            "turns" => MaskSource::Turns,
            "auto" => MaskSource::Auto,
            other => {
                return Err(Error::input(format!("mask_source must be 'generation', 'turns' or 'auto', got {other:?}")).into())
            }
        };
        let turn_start = match turn_start {
            "content" => TurnStart::Content,
            "prefill" => TurnStart::Prefill,
            "header" => TurnStart::Header,
            other => {
                return Err(Error::input(format!("turn_start must be 'content', 'prefill' or 'header', got {other:?}")).into())
            }
        };
        let defaults = TurnOptions::default();
        let turns = TurnOptions {
            roles: train_roles.unwrap_or(defaults.roles),
            train_key,
            last_turn_only,
            mask_end_of_turn,
            mask_separator,
            turn_start,
            mask_header_whitespace,
        };
        Ok(PyMaskOptions { plan: MaskPlan { source, turns } })
    }
}
