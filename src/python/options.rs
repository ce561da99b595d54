//! Option values from Python: the enum-like ones implement `FromPyObject`, each with the message
//! users see for a value it does not take (`padding_side must be 'left' or 'right', got 'x'`),
//! named by the option it was given for. `mask_options` builds a call's options from them.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use pyo3::Borrowed;

use crate::mask::{ChangedTurns, ErrorPolicy, Layout, MaskSource, PaddingStrategy, TurnStart};
use crate::{Backend, Error, Side};

/// Why a value is not one an option takes.
pub enum OptionError {
    /// Named by the caller: `{option} must be {expected}, got {got}`.
    Invalid { expected: &'static str, got: String },
    /// Python raised while the value was read.
    Raised(PyErr),
}

impl OptionError {
    fn invalid(expected: &'static str, got: String) -> Self {
        OptionError::Invalid { expected, got }
    }

    /// The error of option `option`.
    pub fn named(self, option: &str) -> PyErr {
        match self {
            OptionError::Invalid { expected, got } => {
                Error::input(format!("{option} must be {expected}, got {got}")).into()
            }
            OptionError::Raised(err) => err,
        }
    }
}

impl From<PyErr> for OptionError {
    fn from(err: PyErr) -> Self {
        OptionError::Raised(err)
    }
}

impl From<OptionError> for PyErr {
    fn from(err: OptionError) -> PyErr {
        err.named("the option")
    }
}

/// `repr(value)`, as Python's `{value!r}` prints it.
pub(super) fn repr(value: &Bound<'_, PyAny>) -> String {
    value.repr().map(|text| text.to_string()).unwrap_or_else(|_| "<unprintable value>".to_string())
}

/// The text of a `str` (or of a `str` subclass, such as transformers' string enums).
pub(super) fn text(value: &Bound<'_, PyAny>) -> Option<String> {
    value.cast::<PyString>().ok()?.to_str().ok().map(str::to_string)
}

/// A string as the Rust core printed it in its messages (`"x"`), anything else as `repr`.
fn quoted(value: &Bound<'_, PyAny>) -> String {
    text(value).map_or_else(|| repr(value), |text| format!("{text:?}"))
}

/// The value named `name` in `table`.
fn lookup<T: Copy>(table: &[(&'static str, T)], name: &str) -> Option<T> {
    table.iter().find(|(key, _)| *key == name).map(|&(_, value)| value)
}

/// The name of `value` in `table`.
pub(super) fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> &'static str {
    table.iter().find(|(_, v)| *v == value).map_or("", |&(name, _)| name)
}

/// A value of `table`, by its name; `got` prints any other value.
fn named_value<T: Copy>(
    table: &[(&'static str, T)],
    value: &Bound<'_, PyAny>,
    expected: &'static str,
    got: impl Fn(&Bound<'_, PyAny>) -> String,
) -> Result<T, OptionError> {
    text(value).and_then(|name| lookup(table, &name)).ok_or_else(|| OptionError::invalid(expected, got(value)))
}

pub(super) const SIDES: [(&str, Side); 2] = [("left", Side::Left), ("right", Side::Right)];
pub(super) const PADDINGS: [(&str, PaddingStrategy); 3] = [
    ("do_not_pad", PaddingStrategy::DoNotPad),
    ("longest", PaddingStrategy::Longest),
    ("max_length", PaddingStrategy::MaxLength),
];
const TRUNCATIONS: [(&str, bool); 3] = [("longest_first", true), ("only_first", true), ("do_not_truncate", false)];
pub(super) const MASK_SOURCES: [(&str, MaskSource); 4] = [
    ("generation", MaskSource::Generation),
    ("turns", MaskSource::Turns),
    ("auto", MaskSource::Auto),
    ("none", MaskSource::None),
];
pub(super) const TURN_STARTS: [(&str, TurnStart); 3] =
    [("content", TurnStart::Content), ("prefill", TurnStart::Prefill), ("header", TurnStart::Header)];
pub(super) const CHANGED_TURNS: [(&str, ChangedTurns); 2] =
    [("error", ChangedTurns::Error), ("skip", ChangedTurns::Skip)];
pub(super) const POLICIES: [(&str, ErrorPolicy); 3] =
    [("raise", ErrorPolicy::Raise), ("skip", ErrorPolicy::Skip), ("collect", ErrorPolicy::Collect)];
pub(super) const TENSORS: [(&str, ReturnTensors); 3] =
    [("np", ReturnTensors::Numpy), ("pt", ReturnTensors::Torch), ("arrow", ReturnTensors::Arrow)];

/// `"left"` or `"right"`.
impl<'a, 'py> FromPyObject<'a, 'py> for Side {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        named_value(&SIDES, &value, "'left' or 'right'", repr)
    }
}

/// transformers' `padding`: True (the longest sequence), False or None (no padding), a strategy's
/// name, or transformers' `PaddingStrategy` enum (by its `.value`).
impl<'a, 'py> FromPyObject<'a, 'py> for PaddingStrategy {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        if let Ok(flag) = value.cast::<PyBool>() {
            return Ok(if flag.is_true() { PaddingStrategy::Longest } else { PaddingStrategy::DoNotPad });
        }
        if value.is_none() {
            return Ok(PaddingStrategy::DoNotPad);
        }
        let name = value.getattr_opt("value")?.unwrap_or_else(|| value.to_owned());
        named_value(&PADDINGS, &name, "False, True, 'longest' or 'max_length'", |_| repr(&value))
    }
}

/// transformers' `truncation`: a bool, or a strategy's name (`"do_not_truncate"` is False).
pub struct Truncate(pub bool);

impl<'a, 'py> FromPyObject<'a, 'py> for Truncate {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        if value.cast::<PyString>().is_err() {
            return Ok(Truncate(value.is_truthy()?));
        }
        named_value(&TRUNCATIONS, &value, "a bool or 'longest_first'", repr).map(Truncate)
    }
}

/// `max_length`: None or a non-negative int.
pub struct MaxLength(pub Option<usize>);

impl<'a, 'py> FromPyObject<'a, 'py> for MaxLength {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        if value.is_none() {
            return Ok(MaxLength(None));
        }
        let is_count = value.cast::<PyInt>().is_ok() && value.cast::<PyBool>().is_err() && !value.lt(0)?;
        if !is_count {
            return Err(OptionError::invalid("a non-negative int", repr(&value)));
        }
        Ok(MaxLength(Some(value.extract()?)))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for MaskSource {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        named_value(&MASK_SOURCES, &value, "'generation', 'turns', 'auto' or 'none'", quoted)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for TurnStart {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        named_value(&TURN_STARTS, &value, "'content', 'prefill' or 'header'", quoted)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for ChangedTurns {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        named_value(&CHANGED_TURNS, &value, "'error' or 'skip'", repr)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for ErrorPolicy {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        named_value(&POLICIES, &value, "'raise', 'skip' or 'collect'", repr)
    }
}

/// `"auto"`, `"tokenizers"` or `"fast"` (the core's `FromStr` says what else it got).
impl<'a, 'py> FromPyObject<'a, 'py> for Backend {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(value.extract::<pyo3::pybacked::PyBackedStr>()?.parse::<Backend>()?)
    }
}

/// What `return_tensors` asks for: the core's layout, and which library wraps arrays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ReturnTensors {
    #[default]
    Lists,
    Numpy,
    Torch,
    Arrow,
}

impl ReturnTensors {
    pub(super) fn layout(self) -> Layout {
        match self {
            ReturnTensors::Lists => Layout::Lists,
            ReturnTensors::Numpy | ReturnTensors::Torch => Layout::Arrays,
            ReturnTensors::Arrow => Layout::Arrow,
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for ReturnTensors {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        if value.is_none() {
            return Ok(ReturnTensors::Lists);
        }
        named_value(&TENSORS, &value, "None, 'np', 'pt' or 'arrow' (encode_batch)", repr)
    }
}

/// Option `name`'s value, or the error that names it.
pub fn parse<'a, 'py, T>(value: &'a Bound<'py, PyAny>, name: &str) -> PyResult<T>
where
    T: FromPyObject<'a, 'py, Error = OptionError>,
{
    value.extract::<T>().map_err(|err| err.named(name))
}

/// A side, or None (the tokenizer's) for any false value.
pub(super) fn side(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Side>> {
    Ok(if value.is_truthy()? { Some(parse(value, name)?) } else { None })
}

/// A list of strings given as any iterable but a string, which is almost always a mistake.
pub(super) fn strings(value: &Bound<'_, PyAny>, mistake: &str) -> PyResult<Vec<String>> {
    if value.is_instance_of::<PyString>() {
        return Err(Error::input(mistake).into());
    }
    value.try_iter()?.map(|item| item?.extract::<String>()).collect()
}
