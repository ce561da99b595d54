//! How outputs cross the boundary: lists of lists, rectangular arrays, or Arrow arrays.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::Result;
use crate::mask::encode::{EncodeOptions, Encoded, PaddingStrategy};
use crate::runtime::Threads;

use super::id_objects::IdObjects;

/// Which of the three the caller asked for.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    as_arrays: bool,
    as_arrow: bool,
}

impl Layout {
    pub fn new(as_arrays: bool, as_arrow: bool) -> Self {
        Layout { as_arrays, as_arrow }
    }

    /// The options to encode with, checked whole first: arrays are padded while they are
    /// filled (`matrix.rs`), so their rows are encoded unpadded.
    pub fn core_options(self, options: &EncodeOptions) -> Result<EncodeOptions> {
        options.validate()?;
        let mut core = options.clone();
        if self.as_arrays && !self.as_arrow {
            core.padding = PaddingStrategy::DoNotPad;
        }
        Ok(core)
    }

    /// The outputs of rows encoded with [`Layout::core_options`] of `options`.
    pub fn outputs_to_py<'py>(
        self,
        py: Python<'py>,
        batch: &[Encoded],
        options: &EncodeOptions,
        threads: Threads,
        ids: &IdObjects,
    ) -> PyResult<Bound<'py, PyDict>> {
        if self.as_arrow {
            super::arrow_out::outputs_to_py(py, batch)
        } else if self.as_arrays {
            super::outputs::arrays_to_py(py, batch, options, threads)
        } else {
            super::outputs::lists_to_py(py, batch, ids)
        }
    }
}
