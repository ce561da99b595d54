//! Test support, not API: built only with the `test-hooks` feature (`make dev` enables it; a
//! release build does not), so release encoding carries none of it.

use pyo3::prelude::*;

use super::chat_tokenizer::PyChatTokenizer;
use crate::runtime::{deferred, phases, pool};

/// Runs `items` trivial tasks on the batch pool, the one at `panic_at`
/// panicking, through the same per-item guard every batch uses. Returns each item's value or its
/// exception object.
#[pyfunction]
#[pyo3(signature = (items, panic_at, *, num_threads=None))]
fn _panic_in_batch(
    py: Python<'_>,
    items: usize,
    panic_at: usize,
    num_threads: Option<usize>,
) -> PyResult<Vec<Py<PyAny>>> {
    let indices: Vec<usize> = (0..items).collect();
    let results = py.detach(|| {
        pool::run_each(
            &indices,
            num_threads,
            |&i| if i == panic_at { panic!("injected panic at item {i}") } else { Ok(i) },
        )
    })?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(value) => Ok(value.into_pyobject(py)?.into_any().unbind()),
            Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
        })
        .collect()
}

/// Holds the worker-pool registry for `seconds` with the interpreter
/// detached, as building a pool does, so a test can fork while another thread holds it.
#[pyfunction]
fn _hold_pool_registry(py: Python<'_>, seconds: f64) {
    let duration = std::time::Duration::from_secs_f64(seconds.clamp(0.0, 60.0));
    py.detach(|| pool::hold_pool_registry(duration));
}

/// Seconds spent per phase of the batches since the last call, as `{phase: seconds}`
/// (`runtime::phases`), and timing switched on or off for the calls that follow.
#[pyfunction]
fn _phase_seconds(enable: bool) -> Vec<(&'static str, f64)> {
    phases::PHASE_NAMES.into_iter().zip(phases::take_seconds(enable)).collect()
}

/// Makes every engine build from now on first sleep `seconds` (0 ends it), so a test can render,
/// or fork, while the build a construction started is under way.
#[pyfunction]
fn _delay_engine_builds(seconds: f64) {
    deferred::delay_builds(std::time::Duration::from_secs_f64(seconds.clamp(0.0, 60.0)));
}

/// Whether the tokenizer's encoding engine is built; never waits.
#[pyfunction]
fn _engine_is_built(tokenizer: PyRef<'_, PyChatTokenizer>) -> bool {
    tokenizer.engine_is_built()
}

/// Set as plain attributes: `add_function` would list them in `__all__`, the module's exports,
/// which `_core.pyi` (the release module's stub) is checked against.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_panic_in_batch", wrap_pyfunction!(_panic_in_batch, m)?)?;
    m.setattr("_hold_pool_registry", wrap_pyfunction!(_hold_pool_registry, m)?)?;
    m.setattr("_phase_seconds", wrap_pyfunction!(_phase_seconds, m)?)?;
    m.setattr("_delay_engine_builds", wrap_pyfunction!(_delay_engine_builds, m)?)?;
    m.setattr("_engine_is_built", wrap_pyfunction!(_engine_is_built, m)?)
}
