//! Outputs as Arrow arrays through the Arrow PyCapsule interface: each output is an object with
//! `__arrow_c_array__`, which `pyarrow.array(obj)` (or any other Arrow library) imports without a
//! copy and without a Python object per token.

use arrow_array::ffi::to_ffi;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

use crate::error::{catch_panic, Error};
use crate::mask::encode::Encoded;

/// `{name: ArrowArray}` for `input_ids`, `attention_mask`, `assistant_masks`, `labels` and
/// `truncated_tokens` (see `crate::arrow::output::output_arrays`), built with the interpreter detached.
pub fn outputs_to_py<'py>(py: Python<'py>, batch: &[Encoded]) -> PyResult<Bound<'py, PyDict>> {
    let arrays = py.detach(|| catch_panic(|| crate::arrow::output::output_arrays(batch)))?;
    let out = PyDict::new(py);
    for (name, array) in arrays {
        out.set_item(name, ArrowArray { array })?;
    }
    Ok(out)
}

/// An `int64` Arrow array of `values`.
pub fn int64_to_py(py: Python<'_>, values: Vec<i64>) -> PyResult<Bound<'_, ArrowArray>> {
    Bound::new(py, ArrowArray { array: Arc::new(Int64Array::from(values)) })
}

/// One Arrow array owned by Rust memory; every export shares its buffers.
#[pyclass(frozen, module = "fastmask._core", name = "ArrowArray")]
pub struct ArrowArray {
    array: ArrayRef,
}

#[pymethods]
impl ArrowArray {
    /// The Arrow PyCapsule interface: a fresh `(schema, array)` capsule pair per call. The
    /// requested schema may be ignored by the interface's rules; the consumer casts if it must.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let (array, schema) =
            to_ffi(&self.array.to_data()).map_err(|err| Error::input(format!("Arrow export: {err}")))?;
        // The capsules own the structures: a consumer moves the array out (marking it released),
        // and dropping a capsule releases whatever was not moved.
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema, array])
    }

    fn __len__(&self) -> usize {
        self.array.len()
    }
}

/// Any Arrow array, for Python.
pub fn array_to_py(py: Python<'_>, array: ArrayRef) -> PyResult<Bound<'_, ArrowArray>> {
    Bound::new(py, ArrowArray { array })
}
