//! `Limits` across the boundary: the fields Python builds `fastmask.Limits` from, and the dicts
//! of names to values that carry one in and out.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::conversations::type_name;
use crate::{Error, Limits};

/// `LIMIT_FIELDS`: `(name, default, doc)` per field of `Limits`, in declaration order.
pub fn fields(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    let fields = Limits::FIELDS.iter().map(|field| (field.name, field.default_value(), field.doc()));
    PyTuple::new(py, fields)
}

/// `Limits` from a dict of field names to non-negative ints; missing fields keep their default.
pub fn limits_from_py(dict: Option<&Bound<'_, PyDict>>) -> PyResult<Limits> {
    let mut limits = Limits::default();
    let Some(dict) = dict else { return Ok(limits) };
    for (key, value) in dict.iter() {
        let name: String = key.extract().map_err(|_| Error::input("limits: names must be strings"))?;
        let number: u64 = value.extract().map_err(|_| {
            Error::input(format!("limits: {name} must be a non-negative int, got {}", type_name(&value)))
        })?;
        limits.set(&name, number)?;
    }
    limits.validate()?;
    Ok(limits)
}

/// The limits as a dict of field names to values.
pub fn limits_dict<'py>(py: Python<'py>, limits: &Limits) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in limits.values() {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}
