//! The Python boundary: the only module that knows pyo3. This file registers the module's
//! contents; each class and conversion lives in its own file.

mod allocator;
mod arrow_in;
mod arrow_out;
mod chat_tokenizer;
mod conversations;
mod errors;
mod id_objects;
mod limits;
mod mask_options;
mod options;
mod outputs;
mod pack;
#[cfg(feature = "test-hooks")]
mod test_hooks;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    allocator::configure();
    m.add_class::<chat_tokenizer::PyChatTokenizer>()?;
    m.add_class::<mask_options::PyMaskOptions>()?;
    m.add_function(wrap_pyfunction!(mask_options::call_options, m)?)?;
    m.add_class::<outputs::Int64Buffer>()?;
    m.add_class::<arrow_out::ArrowArray>()?;
    m.add_function(wrap_pyfunction!(pack::pack, m)?)?;
    #[cfg(feature = "test-hooks")]
    test_hooks::register(m)?;
    errors::register(m)?;
    m.add("NUM_THREADS_ENV", crate::runtime::NUM_THREADS_ENV)?;
    m.add("LIMIT_FIELDS", limits::fields(m.py())?)?;
    Ok(())
}
