//! `MaskOptions`, the one value that carries every option of a call: built once from keywords,
//! checked whole when it is built, and read by the core as its `CallOptions`. `call_options`
//! gives a call its options: a `MaskOptions` it was given, with the call's own keywords in place
//! of its fields, and the keywords that are not its options (template variables).

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};
use pyo3::{Borrowed, PyTypeInfo};

use super::options::{
    name_of, parse, repr, side, strings, text, MaxLength, ReturnTensors, Truncate, CHANGED_TURNS, MASK_SOURCES,
    PADDINGS, POLICIES, SIDES, TENSORS, TURN_STARTS,
};
use super::pack::strategy_name;
use crate::mask::{CallOptions, ErrorPolicy, PaddingStrategy};
use crate::pack::{Strategy, MAX_SEQ_LENGTH};
use crate::Error;

/// The calls of `fastmask.ChatTokenizer` that take options, by the name of their batch method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Render,
    Encode,
    EncodeTexts,
}

impl<'a, 'py> FromPyObject<'a, 'py> for Call {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match text(&value).as_deref() {
            Some("render_batch") => Ok(Call::Render),
            Some("encode_batch") => Ok(Call::Encode),
            Some("encode_texts") => Ok(Call::EncodeTexts),
            _ => Err(PyValueError::new_err(format!("no call takes options named {}", repr(&value)))),
        }
    }
}

const MASKING: &[Call] = &[Call::Render, Call::Encode];
const TOKENIZING: &[Call] = &[Call::Encode, Call::EncodeTexts];
const ENCODING: &[Call] = &[Call::Encode];
const EVERY_CALL: &[Call] = &[Call::Render, Call::Encode, Call::EncodeTexts];

/// Every option with the calls that take it (for the others its keyword is a template variable),
/// in the order a call's keywords are read: `control_tokens` sees the call's
/// `sanitize_control_tokens`.
const FIELDS: [(&str, &[Call]); 23] = [
    ("mask_source", MASKING),
    ("train_roles", MASKING),
    ("train_key", MASKING),
    ("last_turn_only", MASKING),
    ("mask_end_of_turn", MASKING),
    ("mask_separator", MASKING),
    ("turn_start", MASKING),
    ("mask_header_whitespace", MASKING),
    ("changed_turns", MASKING),
    ("expand_turns", MASKING),
    ("max_length", TOKENIZING),
    ("truncation", TOKENIZING),
    ("truncation_side", TOKENIZING),
    ("padding", TOKENIZING),
    ("padding_side", TOKENIZING),
    ("ignore_index", ENCODING),
    ("sanitize_control_tokens", ENCODING),
    ("control_tokens", ENCODING),
    ("return_tensors", TOKENIZING),
    ("num_threads", EVERY_CALL),
    ("on_error", ENCODING),
    ("pack_length", ENCODING),
    ("pack_strategy", ENCODING),
];

/// Every per-call option of `ChatTokenizer.render`, `encode`, their batch forms and `encode_texts`.
///
/// Build it once, `MaskOptions(mask_source="turns", padding=True, max_length=2048)`, and pass it
/// as `options=`; keywords given in the call as well replace its fields for that call. A call
/// uses the fields that apply to it and ignores the others. Invalid values raise `InputError`
/// here, with the message the keyword would give. Immutable, hashable and picklable: equal
/// options compare, hash and pickle equal. Fields read back normalized (`padding=True` reads
/// `"longest"`, `train_roles` a tuple).
///
/// Masks (`render`, `encode`):
///     mask_source: `"generation"` (the template's `{% generation %}` blocks; a template without
///         them is an error), `"turns"` (turns inferred by rendering conversation prefixes),
///         `"auto"` (the default: blocks when the template has them, else turns), or `"none"`
///         (the text alone: no spans, all-zero masks, every label `ignore_index`; works for any
///         conversation the template renders).
///     train_roles: the roles whose inferred turns are trained; default `("assistant",)`.
///     train_key: a message key whose boolean value overrides `train_roles` for that message
///         (default `"train"`); None: no key.
///     last_turn_only: train only the last trained turn of each conversation.
///     mask_end_of_turn: keep the end-of-turn marker (such as `<|im_end|>`) in the span (default True).
///     mask_separator: keep the whitespace after the end-of-turn marker (default True).
///     turn_start: where an assistant turn starts: `"content"` (after the generation prompt, the
///         default), `"prefill"` (after the prompt's first line, so a prefilled `<think>` is
///         trained), or `"header"` (at the role header).
///     mask_header_whitespace: also train the whitespace just before that start (as TRL's
///         Qwen2.5 training template does).
///     changed_turns: what happens to a trained turn the template renders differently once
///         later messages follow (it drops the turn's reasoning, or ends it with another token):
///         `"error"` (the default; the error points to `expand_turns=True`) or `"skip"` (such
///         turns are left untrained). Never trained as rewritten.
///     expand_turns (`render_batch`, `encode`): one row per trained turn: the conversation up to
///         and including that turn, rendered as the template renders it when the turn is the
///         last message, with only that turn trained; conversations with no trained turn make
///         no row. Rows carry `conversation_index` and `turn_index` (the trained message's
///         index). Not with `on_error="collect"`, `mask_source="none"` or
///         `add_generation_prompt=True`.
///
/// Tokenization (`encode`, `encode_texts`):
///     max_length: what truncation cuts to and `padding="max_length"` pads to; None: no limit,
///         or the tokenizer's `model_max_length` where one is needed.
///     truncation: True, `"longest_first"` or `"only_first"` cut to `max_length`.
///     truncation_side, padding_side: `"left"` or `"right"`; None: the tokenizer's.
///     padding: False or `"do_not_pad"`, True or `"longest"`, `"max_length"`, or transformers'
///         `PaddingStrategy`.
///     ignore_index (`encode`): the label of tokens outside the mask and of padding (default -100).
///     sanitize_control_tokens (`encode`): encode the control tokens found in the caller's
///         strings as plain text (transformers' option of that name, here with masks).
///     control_tokens (`encode`): exactly these control tokens (plus the special ones) instead
///         of the special added tokens and the added tokens the template contains; needs
///         `sanitize_control_tokens=True`.
///
/// Outputs (`encode`, `encode_texts`; `num_threads` for every call):
///     return_tensors: None (lists), `"np"` or `"pt"` (int64 arrays, which need equal lengths),
///         or `"arrow"` (pyarrow list arrays; `encode` only).
///     on_error (`encode`): `"raise"`, `"skip"` or `"collect"` (see `fastmask._on_error`).
///     num_threads: worker threads for the call; None: `FASTMASK_NUM_THREADS`, else all cores.
///
/// Packing (`encode`):
///     pack_length: pack the call's rows into bins of this many tokens (`fastmask.pack` over the
///         whole call): `seq_lengths` and `position_ids` per bin, other per-row columns as lists
///         per bin; `"np"`/`"pt"` pad every bin to it. Rows are packed unpadded, so `padding`
///         must be False; not with `on_error="collect"`.
///     pack_strategy: `"bfd"` (the default), `"bfd_split"` or `"wrapped"`, as TRL's `pack_dataset`.
#[pyclass(frozen, eq, hash, module = "fastmask._core", name = "MaskOptions")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PyMaskOptions {
    /// What the core reads.
    pub call: CallOptions,
    /// The core's layout (in `call`), and which library wraps arrays (Python's part).
    pub return_tensors: ReturnTensors,
    /// The tokens `sanitize_control_tokens` marks (the marking is Python's part); None: the default choice.
    control_tokens: Option<Vec<String>>,
    /// Packing after encoding (Python's part, `fastmask._pack`): the bin length, None for none.
    pack_length: Option<usize>,
    pack_strategy: Strategy,
}

impl PyMaskOptions {
    /// The options a call was given, or the defaults.
    pub fn given<'a>(options: Option<&'a Bound<'_, PyMaskOptions>>) -> Cow<'a, PyMaskOptions> {
        options.map_or_else(|| Cow::Owned(PyMaskOptions::default()), |options| Cow::Borrowed(options.get()))
    }

    /// These options with `keywords` in place of their fields: those that are options `call`
    /// takes, or all of them for a call of None. The others are returned (template variables).
    fn updated<'py>(&self, keywords: &Bound<'py, PyDict>, call: Option<Call>) -> PyResult<(Self, Bound<'py, PyDict>)> {
        let py = keywords.py();
        let (options, others) = (PyDict::new(py), PyDict::new(py));
        for (key, value) in keywords.iter() {
            let name = key.cast::<PyString>().ok().and_then(|name| name.to_str().ok().map(str::to_string));
            let takes = |(field, calls): &(&str, &[Call])| {
                Some(*field) == name.as_deref() && call.is_none_or(|c| calls.contains(&c))
            };
            if FIELDS.iter().any(takes) {
                options.set_item(key, value)?
            } else {
                others.set_item(key, value)?
            }
        }
        let mut updated = self.clone();
        for (name, _) in FIELDS {
            if let Some(value) = options.get_item(name)? {
                updated.set(name, &value)?;
            }
        }
        updated.validate()?;
        Ok((updated, others))
    }

    fn set(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (masks, tokens) = (&mut self.call.masks, &mut self.call.tokens);
        match name {
            "mask_source" => masks.source = parse(value, name)?,
            "train_roles" => masks.turns.roles = strings(value, "train_roles must be a list of roles, not a string")?,
            "train_key" => masks.turns.train_key = value.extract()?,
            "last_turn_only" => masks.turns.last_turn_only = value.is_truthy()?,
            "mask_end_of_turn" => masks.turns.mask_end_of_turn = value.is_truthy()?,
            "mask_separator" => masks.turns.mask_separator = value.is_truthy()?,
            "turn_start" => masks.turns.turn_start = parse(value, name)?,
            "mask_header_whitespace" => masks.turns.mask_header_whitespace = value.is_truthy()?,
            "changed_turns" => masks.turns.changed_turns = parse(value, name)?,
            "expand_turns" => self.call.expand_turns = value.is_truthy()?,
            "max_length" => tokens.max_length = parse::<MaxLength>(value, name)?.0,
            "truncation" => tokens.truncation = parse::<Truncate>(value, name)?.0,
            "truncation_side" => tokens.truncation_side = side(value, name)?,
            "padding" => tokens.padding = parse(value, name)?,
            "padding_side" => tokens.padding_side = side(value, name)?,
            // `int(ignore_index)`, as the Python layer always took it.
            "ignore_index" => tokens.ignore_index = PyInt::type_object(value.py()).call1((value,))?.extract()?,
            "sanitize_control_tokens" => tokens.sanitize_control_tokens = value.is_truthy()?,
            "control_tokens" => self.control_tokens = self.control_tokens_from(value)?,
            "return_tensors" => {
                self.return_tensors = parse(value, name)?;
                self.call.layout = self.return_tensors.layout();
            }
            "num_threads" => self.call.threads = value.extract()?,
            "on_error" => self.call.on_error = parse(value, name)?,
            "pack_length" => self.pack_length = pack_length(value)?,
            "pack_strategy" => self.pack_strategy = parse(value, name)?,
            _ => return Err(PyValueError::new_err(format!("no option is named {name:?}"))),
        }
        Ok(())
    }

    fn control_tokens_from(&self, value: &Bound<'_, PyAny>) -> PyResult<Option<Vec<String>>> {
        if value.is_none() {
            return Ok(None);
        }
        self.check_control_tokens(true)?;
        Ok(Some(strings(value, "control_tokens must be a list of tokens, not a string")?))
    }

    fn check_control_tokens(&self, given: bool) -> PyResult<()> {
        if given && !self.call.tokens.sanitize_control_tokens {
            return Err(Error::input("control_tokens is only used with sanitize_control_tokens=True").into());
        }
        Ok(())
    }

    /// The checks of the whole: combinations that no call can run.
    fn validate(&self) -> PyResult<()> {
        self.check_control_tokens(self.control_tokens.is_some())?;
        if self.pack_length.is_some() && self.call.tokens.padding != PaddingStrategy::DoNotPad {
            return Err(
                Error::input("pack_length packs rows as they are: padding must be False (bins are padded)").into()
            );
        }
        if self.pack_length.is_some() && self.call.on_error == ErrorPolicy::Collect {
            return Err(Error::input(
                "on_error='collect' keeps one row per conversation, but pack_length puts several in a bin: use 'skip'",
            )
            .into());
        }
        Ok(self.call.validate()?)
    }

    /// `(name, value)` of the fields that differ from the defaults, in `FIELDS` order.
    fn changed<'py>(slf: &Bound<'py, Self>) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
        let defaults = Bound::new(slf.py(), PyMaskOptions::default())?;
        let mut changed = Vec::new();
        for (name, _) in FIELDS {
            let value = slf.getattr(name)?;
            if value.ne(defaults.getattr(name)?)? {
                changed.push((name, value));
            }
        }
        Ok(changed)
    }
}

#[pymethods]
impl PyMaskOptions {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let Some(options) = options else { return Ok(PyMaskOptions::default()) };
        let (built, unknown) = PyMaskOptions::default().updated(options, None)?;
        match unknown.keys().iter().next() {
            Some(name) => {
                Err(PyTypeError::new_err(format!("MaskOptions() got an unexpected keyword argument {}", repr(&name))))
            }
            None => Ok(built),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let fields: Vec<String> =
            Self::changed(slf)?.iter().map(|(name, value)| format!("{name}={}", repr(value))).collect();
        Ok(format!("MaskOptions({})", fields.join(", ")))
    }

    /// Pickles as the keywords that build it (the fields that differ from the defaults), so
    /// equal options pickle, and so fingerprint in `datasets`, identically.
    fn __getnewargs_ex__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let keywords = PyDict::new(slf.py());
        for (name, value) in Self::changed(slf)? {
            keywords.set_item(name, value)?;
        }
        Ok((PyTuple::empty(slf.py()), keywords))
    }

    /// `"generation"`, `"turns"`, `"auto"` or `"none"`.
    #[getter]
    fn mask_source(&self) -> &'static str {
        name_of(&MASK_SOURCES, self.call.masks.source)
    }

    #[getter]
    fn train_roles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.call.masks.turns.roles)
    }

    #[getter]
    fn train_key(&self) -> Option<String> {
        self.call.masks.turns.train_key.clone()
    }

    #[getter]
    fn expand_turns(&self) -> bool {
        self.call.expand_turns
    }

    #[getter]
    fn last_turn_only(&self) -> bool {
        self.call.masks.turns.last_turn_only
    }

    #[getter]
    fn mask_end_of_turn(&self) -> bool {
        self.call.masks.turns.mask_end_of_turn
    }

    #[getter]
    fn mask_separator(&self) -> bool {
        self.call.masks.turns.mask_separator
    }

    /// `"content"`, `"prefill"` or `"header"`.
    #[getter]
    fn turn_start(&self) -> &'static str {
        name_of(&TURN_STARTS, self.call.masks.turns.turn_start)
    }

    #[getter]
    fn mask_header_whitespace(&self) -> bool {
        self.call.masks.turns.mask_header_whitespace
    }

    /// `"error"` or `"skip"`.
    #[getter]
    fn changed_turns(&self) -> &'static str {
        name_of(&CHANGED_TURNS, self.call.masks.turns.changed_turns)
    }

    #[getter]
    fn max_length(&self) -> Option<usize> {
        self.call.tokens.max_length
    }

    #[getter]
    fn truncation(&self) -> bool {
        self.call.tokens.truncation
    }

    /// `"left"`, `"right"`, or None: the tokenizer's.
    #[getter]
    fn truncation_side(&self) -> Option<&'static str> {
        self.call.tokens.truncation_side.map(|side| name_of(&SIDES, side))
    }

    /// `"do_not_pad"`, `"longest"` or `"max_length"`.
    #[getter]
    fn padding(&self) -> &'static str {
        name_of(&PADDINGS, self.call.tokens.padding)
    }

    /// `"left"`, `"right"`, or None: the tokenizer's.
    #[getter]
    fn padding_side(&self) -> Option<&'static str> {
        self.call.tokens.padding_side.map(|side| name_of(&SIDES, side))
    }

    #[getter]
    fn ignore_index(&self) -> i64 {
        self.call.tokens.ignore_index
    }

    #[getter]
    fn sanitize_control_tokens(&self) -> bool {
        self.call.tokens.sanitize_control_tokens
    }

    #[getter]
    fn control_tokens<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.control_tokens.as_ref().map(|tokens| PyTuple::new(py, tokens)).transpose()
    }

    /// None, `"np"`, `"pt"` or `"arrow"`.
    #[getter]
    fn return_tensors(&self) -> Option<&'static str> {
        (self.return_tensors != ReturnTensors::Lists).then(|| name_of(&TENSORS, self.return_tensors))
    }

    #[getter]
    fn num_threads(&self) -> Option<usize> {
        self.call.threads
    }

    /// `"raise"`, `"skip"` or `"collect"`.
    #[getter]
    fn on_error(&self) -> &'static str {
        name_of(&POLICIES, self.call.on_error)
    }

    #[getter]
    fn pack_length(&self) -> Option<usize> {
        self.pack_length
    }

    /// `"bfd"`, `"bfd_split"` or `"wrapped"`.
    #[getter]
    fn pack_strategy(&self) -> &'static str {
        strategy_name(self.pack_strategy)
    }
}

/// A bin length of at least one token, or None.
fn pack_length(value: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if value.is_none() {
        return Ok(None);
    }
    match value.extract::<i64>() {
        Ok(length) if (1..=MAX_SEQ_LENGTH as i64).contains(&length) => Ok(Some(length as usize)),
        _ => Err(Error::input(format!(
            "pack_length must be None or a number of tokens from 1 to {MAX_SEQ_LENGTH}, got {}",
            repr(value)
        ))
        .into()),
    }
}

/// The options of one call: `options` (a `MaskOptions`, or None for the defaults) with the
/// keywords that are options of `call` in place of its fields, and the other keywords, which are
/// the call's template variables (`encode_texts` takes none).
#[pyfunction]
pub fn call_options<'py>(
    call: Call,
    options: Option<&Bound<'py, PyAny>>,
    keywords: &Bound<'py, PyDict>,
) -> PyResult<(PyMaskOptions, Bound<'py, PyDict>)> {
    let options = match options {
        None => PyMaskOptions::default(),
        Some(given) => given.cast::<PyMaskOptions>().map(|o| o.get().clone()).map_err(|_| {
            Error::input(format!(
                "options must be a fastmask.MaskOptions, got {} (a template variable named 'options' goes in template_kwargs)",
                given.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?,
    };
    if keywords.is_empty() {
        return Ok((options, keywords.clone()));
    }
    let (options, others) = options.updated(keywords, Some(call))?;
    match others.keys().iter().next() {
        Some(name) if call == Call::EncodeTexts => Err(PyTypeError::new_err(format!(
            "ChatTokenizer.encode_texts() got an unexpected keyword argument {}",
            repr(&name)
        ))),
        _ => Ok((options, others)),
    }
}
