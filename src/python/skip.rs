//! `on_error="skip"`: a batch that keeps going past failing conversations. The rows that succeed
//! come back as usual, under the usual keys; the failures come back under `errors` as
//! `(index, exception)` pairs in index order, each exception of the class `raise` would give.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::chat_tokenizer::Core;
use super::conversations::InputConversation;
use super::layout::Layout;
use crate::mask::conversation::RenderInputs;
use crate::mask::encode::{EncodeOptions, Encoded};
use crate::mask::encoder;
use crate::mask::turns::MaskPlan;
use crate::Error;

/// What a batch does with a conversation that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Fail the call with the first failing index (the default).
    Raise,
    /// Leave the conversation out and report it under `errors`.
    Skip,
}

impl ErrorPolicy {
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "raise" => Ok(ErrorPolicy::Raise),
            "skip" => Ok(ErrorPolicy::Skip),
            other => Err(Error::input(format!("on_error must be 'raise', 'skip' or 'collect', got {other:?}"))),
        }
    }
}

/// Encodes the conversations that convert and succeed; converting and encoding errors alike are
/// reported by their index in the caller's batch.
#[allow(clippy::too_many_arguments)]
pub fn encode_skipping<'py>(
    py: Python<'py>,
    core: &Core,
    converted: Vec<Result<InputConversation, Error>>,
    inputs: &RenderInputs,
    options: &EncodeOptions,
    plan: &MaskPlan,
    num_threads: Option<usize>,
    layout: Layout,
) -> PyResult<Bound<'py, PyDict>> {
    let mut errors = Vec::new();
    let mut positions = Vec::with_capacity(converted.len());
    let mut conversations = Vec::with_capacity(converted.len());
    for (index, item) in converted.into_iter().enumerate() {
        match item {
            Ok(conversation) => {
                positions.push(index);
                conversations.push(conversation);
            }
            Err(err) => errors.push(err),
        }
    }
    let core_options = layout.core_options(options)?;
    let results = py.detach(|| {
        encoder::encode_each(
            &core.template,
            &core.tokenizer,
            &conversations,
            inputs,
            &core.special_tokens,
            &core_options,
            plan,
            num_threads,
        )
    })?;
    let mut good: Vec<Encoded> = Vec::with_capacity(results.len());
    for (position, result) in positions.into_iter().zip(results) {
        match result {
            Ok(encoded) => good.push(encoded),
            // The core numbered the error within the converted subset; report the caller's index.
            Err(err) => errors.push(Error { conversation: Some(position), ..err }),
        }
    }
    errors.sort_by_key(|err| err.conversation);
    let out = layout.outputs_to_py(py, &good, options, num_threads, &core.ids)?;
    out.set_item("errors", errors_to_py(py, errors)?)?;
    Ok(out)
}

fn errors_to_py(py: Python<'_>, errors: Vec<Error>) -> PyResult<Bound<'_, PyList>> {
    let items = errors.into_iter().map(|err| {
        let index = err.conversation.unwrap_or(0);
        let exception = PyErr::from(err).into_value(py);
        PyTuple::new(py, [index.into_pyobject(py)?.into_any(), exception.into_bound(py).into_any()])
    });
    PyList::new(py, items.collect::<PyResult<Vec<_>>>()?)
}
