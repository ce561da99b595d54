//! The outputs of `encode_batch` / `encode_texts` in the layout a call asks for: lists of lists,
//! Arrow arrays (`arrow_out`), or int64 matrices handed to numpy without a copy and without a
//! Python object per element (filled with the interpreter detached, wrapped by
//! `numpy.frombuffer` through the buffer protocol, the buffer object kept alive as the array's
//! base); and the errors of the conversations a batch left out.

use std::ffi::c_int;
use std::ptr::NonNull;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::arrow::matrix;
use crate::error::{catch_panic, Error};
use crate::mask::{CallOptions, ChatEncoder, EncodeOptions, Encoded, Layout};
use crate::runtime::Threads;

use super::id_objects::IdObjects;

const NAMES: [&str; 4] = ["input_ids", "attention_mask", "assistant_masks", "labels"];

/// `{name: rows}` in the layout `options` asks for, of rows `encoder` encoded with `options`
/// (unpadded for arrays, which are padded as they are filled).
pub fn to_py<'py>(
    py: Python<'py>,
    rows: &[Encoded],
    encoder: &ChatEncoder,
    options: &CallOptions,
    ids: &IdObjects,
) -> PyResult<Bound<'py, PyDict>> {
    match options.layout {
        Layout::Lists => lists_to_py(py, rows, ids),
        Layout::Arrays => arrays_to_py(py, rows, &encoder.encode_options(&options.tokens)?, options.threads),
        Layout::Arrow => super::arrow_out::outputs_to_py(py, rows),
    }
}

/// The rows' `conversation_index` and `turn_index` (`expand_turns`) added to `out`, in `layout`:
/// lists of ints, 1-D int64 buffers, or int64 Arrow arrays.
pub fn origins_to_py(out: &Bound<'_, PyDict>, origins: &[(usize, usize)], layout: Layout) -> PyResult<()> {
    let py = out.py();
    let conversations: Vec<i64> = origins.iter().map(|&(conversation, _)| conversation as i64).collect();
    let turns: Vec<i64> = origins.iter().map(|&(_, turn)| turn as i64).collect();
    for (name, values) in [("conversation_index", conversations), ("turn_index", turns)] {
        match layout {
            Layout::Lists => out.set_item(name, values)?,
            Layout::Arrays => {
                let shape = (values.len(),);
                let buffer = Bound::new(py, Int64Buffer::new(values))?;
                out.set_item(name, PyTuple::new(py, [buffer.into_any(), shape.into_pyobject(py)?.into_any()])?)?
            }
            Layout::Arrow => out.set_item(name, super::arrow_out::int64_to_py(py, values)?)?,
        }
    }
    Ok(())
}

/// `[(index, exception), ...]`: each error as the exception `on_error="raise"` would raise.
pub fn errors_to_py(py: Python<'_>, errors: Vec<Error>) -> PyResult<Bound<'_, PyList>> {
    let items = errors.into_iter().map(|err| {
        let index = err.conversation.unwrap_or(0);
        let exception = PyErr::from(err).into_value(py);
        PyTuple::new(py, [index.into_pyobject(py)?.into_any(), exception.into_bound(py).into_any()])
    });
    PyList::new(py, items.collect::<PyResult<Vec<_>>>()?)
}

/// `{name: (Int64Buffer, (rows, columns))}`: the matrices are filled, and padded as `options`
/// asks, with the interpreter detached.
fn arrays_to_py<'py>(
    py: Python<'py>,
    batch: &[Encoded],
    options: &EncodeOptions,
    threads: Threads,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let filled = py.detach(|| catch_panic(|| matrix::matrices(batch, options, threads)))?;
    let shape = (filled.rows, filled.columns);
    let columns = [filled.input_ids, filled.attention_mask, filled.assistant_masks, filled.labels];
    for (name, values) in NAMES.into_iter().zip(columns) {
        let buffer = Bound::new(py, Int64Buffer::new(values))?;
        out.set_item(name, PyTuple::new(py, [buffer.into_any(), shape.into_pyobject(py)?.into_any()])?)?;
    }
    Ok(out)
}

/// `{name: list of rows}` of rows padded already, made of the vocabulary's shared int objects.
fn lists_to_py<'py>(py: Python<'py>, batch: &[Encoded], ids: &IdObjects) -> PyResult<Bound<'py, PyDict>> {
    let table = ids.table(py)?;
    let out = PyDict::new(py);
    out.set_item(NAMES[0], rows(py, batch, |e| table.list(py, &e.input_ids))?)?;
    out.set_item(NAMES[1], rows(py, batch, |e| table.list(py, &e.attention_mask))?)?;
    out.set_item(NAMES[2], rows(py, batch, |e| table.list(py, &e.assistant_masks))?)?;
    out.set_item(NAMES[3], rows(py, batch, |e| table.list(py, &e.labels))?)?;
    Ok(out)
}

fn rows<'py>(
    py: Python<'py>,
    batch: &[Encoded],
    row: impl Fn(&Encoded) -> PyResult<Bound<'py, PyList>>,
) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, batch.iter().map(row).collect::<PyResult<Vec<_>>>()?)
}

/// A row-major int64 matrix owned by Rust memory and exposed, writable, as a buffer of bytes.
#[pyclass(frozen, module = "fastmask._core", name = "Int64Buffer")]
pub struct Int64Buffer {
    /// The values of a leaked `Box<[i64]>`, reclaimed in `Drop`. Kept as a raw pointer because
    /// numpy may write through the buffer: Rust never reads the memory after handing it over.
    start: NonNull<i64>,
    len: usize,
}

// SAFETY: the buffer owns its memory; after construction only Python's buffer protocol touches
// it, with the same (unsynchronised, like bytearray) semantics as any writable Python buffer.
unsafe impl Send for Int64Buffer {}
unsafe impl Sync for Int64Buffer {}

impl Int64Buffer {
    pub fn new(values: Vec<i64>) -> Self {
        let len = values.len();
        let start = NonNull::new(Box::into_raw(values.into_boxed_slice()).cast::<i64>()).unwrap_or(NonNull::dangling());
        Int64Buffer { start, len }
    }
}

impl Drop for Int64Buffer {
    fn drop(&mut self) {
        // SAFETY: `start`/`len` come from `Box::into_raw` of a boxed slice of `len` values (an
        // empty box has a dangling pointer, which `from_raw` of a zero-length slice accepts).
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.start.as_ptr(), self.len)) });
    }
}

#[pymethods]
impl Int64Buffer {
    /// The buffer protocol: the matrix as writable bytes; the view holds a reference to `slf`,
    /// so the memory outlives every array made from it.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let this = slf.get();
        let bytes = (this.len * std::mem::size_of::<i64>()) as ffi::Py_ssize_t;
        // SAFETY: `view` is the protocol's out-parameter; the pointer and length describe memory
        // this object owns until it is dropped, which the reference in `view.obj` prevents.
        let status = unsafe { ffi::PyBuffer_FillInfo(view, slf.as_ptr(), this.start.as_ptr().cast(), bytes, 0, flags) };
        if status == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.len
    }
}
