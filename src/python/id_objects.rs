//! One Python int per token id of a vocabulary, made on the first list output and shared by all
//! of them: a list of existing ints is built by reference counting alone. Making a new int per
//! token allocated an object each, which the list's deallocation freed again, and which the
//! garbage collector's passes over young lists then read from as many places in memory.
//! Ints are immutable, so sharing them is invisible (as CPython does for ints below 257).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

use crate::Tokenizer;

pub struct IdObjects {
    /// Each id below its `id_end` gets a shared object. Read when the objects are made: finding
    /// the largest id copies the whole vocabulary, which construction need not pay.
    tokenizer: Arc<Tokenizer>,
    objects: PyOnceLock<Vec<Py<PyAny>>>,
}

/// The shared objects, once made, for building lists.
pub struct IdTable<'a> {
    objects: &'a [Py<PyAny>],
}

impl IdObjects {
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        IdObjects { tokenizer, objects: PyOnceLock::new() }
    }

    pub fn table(&self, py: Python<'_>) -> PyResult<IdTable<'_>> {
        let objects = self.objects.get_or_try_init(py, || {
            let id_end = self.tokenizer.id_end();
            (0..id_end).map(|id| Ok(id.into_pyobject(py)?.into_any().unbind())).collect::<PyResult<Vec<_>>>()
        })?;
        Ok(IdTable { objects })
    }
}

impl IdTable<'_> {
    /// A list of these values' objects: the shared one for an id of the vocabulary, else one new
    /// int per run of equal values (the ignore index of labels, mostly).
    pub fn list<'py, T: Copy + Into<i64>>(&self, py: Python<'py>, values: &[T]) -> PyResult<Bound<'py, PyList>> {
        let mut other: Option<(i64, Bound<'py, PyAny>)> = None;
        let objects = values.iter().map(|&value| {
            let value: i64 = value.into();
            if let Some(object) = usize::try_from(value).ok().and_then(|i| self.objects.get(i)) {
                return object.bind(py).clone();
            }
            match &other {
                Some((last, object)) if *last == value => object.clone(),
                _ => {
                    let Ok(int) = value.into_pyobject(py);
                    let object = int.into_any();
                    other = Some((value, object.clone()));
                    object
                }
            }
        });
        PyList::new(py, objects)
    }
}
