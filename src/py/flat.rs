//! Ragged outputs as Arrow list layouts: per output, one little-endian buffer of all values and
//! one of int32 row offsets, so `pyarrow` wraps them without a Python object per token (the
//! buffers are handed over through the buffer protocol, zero-copy).

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyTuple};

use crate::encode::Encoded;
use crate::Error;

/// How outputs cross the boundary: lists of lists, rectangular arrays, or Arrow list buffers.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    as_arrays: bool,
    as_arrow: bool,
}

impl Layout {
    pub fn new(as_arrays: bool, as_arrow: bool) -> Self {
        Layout { as_arrays, as_arrow }
    }

    pub fn outputs_to_py<'py>(self, py: Python<'py>, batch: &[Encoded]) -> PyResult<Bound<'py, PyDict>> {
        if self.as_arrow {
            arrow_outputs_to_py(py, batch)
        } else {
            super::outputs_to_py(py, batch, self.as_arrays)
        }
    }
}

/// `{name: (values, offsets, value_width_bytes)}` for each output, and `truncated_tokens`: a
/// little-endian int64 per row, how many tokens truncation removed.
fn arrow_outputs_to_py<'py>(py: Python<'py>, batch: &[Encoded]) -> PyResult<Bound<'py, PyDict>> {
    let offsets = row_offsets(batch)?;
    let out = PyDict::new(py);
    let ids = values(batch, 4, |e, bytes| e.input_ids.iter().for_each(|&v| bytes.extend_from_slice(&v.to_le_bytes())));
    let attention = values(batch, 1, |e, bytes| bytes.extend_from_slice(&e.attention_mask));
    let masks = values(batch, 1, |e, bytes| bytes.extend_from_slice(&e.assistant_masks));
    let labels = values(batch, 8, |e, bytes| e.labels.iter().for_each(|&v| bytes.extend_from_slice(&v.to_le_bytes())));
    for (name, (bytes, width)) in
        [("input_ids", (ids, 4usize)), ("attention_mask", (attention, 1)), ("assistant_masks", (masks, 1)), ("labels", (labels, 8))]
    {
        let item = PyTuple::new(
            py,
            [
                PyByteArray::new(py, &bytes).into_any(),
                PyByteArray::new(py, &offsets).into_any(),
                width.into_pyobject(py)?.into_any(),
            ],
        )?;
        out.set_item(name, item)?;
    }
    let truncated: Vec<u8> = batch.iter().flat_map(|e| (e.truncated_tokens as i64).to_le_bytes()).collect();
    out.set_item("truncated_tokens", PyByteArray::new(py, &truncated))?;
    Ok(out)
}

/// Arrow's `list` offsets: `rows + 1` int32 values, starting at 0.
fn row_offsets(batch: &[Encoded]) -> PyResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity((batch.len() + 1) * 4);
    let mut end: usize = 0;
    bytes.extend_from_slice(&0i32.to_le_bytes());
    for encoded in batch {
        end += encoded.input_ids.len();
        let offset = i32::try_from(end)
            .map_err(|_| Error::input("more than 2**31 tokens in one batch: encode it in smaller chunks"))?;
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    Ok(bytes)
}

fn values(batch: &[Encoded], width: usize, push: impl Fn(&Encoded, &mut Vec<u8>)) -> Vec<u8> {
    let tokens: usize = batch.iter().map(|e| e.input_ids.len()).sum();
    let mut bytes = Vec::with_capacity(tokens * width);
    for encoded in batch {
        push(encoded, &mut bytes);
    }
    bytes
}
