//! The exception hierarchy, and the one place core errors become Python exceptions.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{Error, ErrorKind};

create_exception!(fastmask, FastmaskError, PyValueError, "Base class of every error fastmask raises.");
create_exception!(fastmask, TemplateSyntaxError, FastmaskError, "The chat template does not parse.");
create_exception!(fastmask, TemplateError, FastmaskError, "The chat template failed while rendering.");
create_exception!(fastmask, InputError, FastmaskError, "A conversation or an option is malformed.");
create_exception!(fastmask, TokenizerError, FastmaskError, "The tokenizer could not be loaded or used.");
create_exception!(
    fastmask,
    LimitError,
    FastmaskError,
    "A safety limit was reached (fuel, sizes, nesting); see `fastmask.Limits`."
);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let message = err.to_string();
        match err.kind {
            ErrorKind::TemplateSyntax => TemplateSyntaxError::new_err(message),
            ErrorKind::Template => TemplateError::new_err(message),
            ErrorKind::Input => InputError::new_err(message),
            ErrorKind::Tokenizer => TokenizerError::new_err(message),
            ErrorKind::Limit => LimitError::new_err(message),
            ErrorKind::Internal => FastmaskError::new_err(message),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FastmaskError", py.get_type::<FastmaskError>())?;
    m.add("TemplateSyntaxError", py.get_type::<TemplateSyntaxError>())?;
    m.add("TemplateError", py.get_type::<TemplateError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("TokenizerError", py.get_type::<TokenizerError>())?;
    m.add("LimitError", py.get_type::<LimitError>())?;
    Ok(())
}
