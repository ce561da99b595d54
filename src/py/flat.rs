//! How outputs cross the boundary: lists of lists, rectangular arrays, or Arrow arrays.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::encode::Encoded;

/// Which of the three the caller asked for.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    as_arrays: bool,
    as_arrow: bool,
}

impl Layout {
    pub fn new(as_arrays: bool, as_arrow: bool) -> Self {
        Layout {
            as_arrays,
            as_arrow,
        }
    }

    pub fn outputs_to_py<'py>(
        self,
        py: Python<'py>,
        batch: &[Encoded],
    ) -> PyResult<Bound<'py, PyDict>> {
        if self.as_arrow {
            super::arrow_out::outputs_to_py(py, batch)
        } else {
            super::outputs_to_py(py, batch, self.as_arrays)
        }
    }
}
