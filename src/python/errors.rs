//! The exception hierarchy, and the one place core errors become Python exceptions.
//!
//! Every exception carries `conversation` (the index in its batch) and `message` (the index of
//! the message in its conversation) as attributes, `None` where the error has none; they are
//! class attributes as well, so an exception raised by the Python layer has them too.

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
        let text = err.to_string();
        let exception = match err.kind {
            ErrorKind::TemplateSyntax => TemplateSyntaxError::new_err(text),
            ErrorKind::Template => TemplateError::new_err(text),
            ErrorKind::Input => InputError::new_err(text),
            ErrorKind::Tokenizer => TokenizerError::new_err(text),
            ErrorKind::Limit => LimitError::new_err(text),
            ErrorKind::Internal => FastmaskError::new_err(text),
        };
        if err.conversation.is_none() && err.message_index.is_none() {
            return exception;
        }
        Python::attach(|py| {
            let value = exception.value(py);
            // Fails only without memory; the class attributes (None) stand in then, and the
            // exception itself is what must reach the caller.
            let _ = value.setattr("conversation", err.conversation);
            let _ = value.setattr("message", err.message_index);
        });
        exception
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<FastmaskError>();
    base.setattr("conversation", py.None())?;
    base.setattr("message", py.None())?;
    m.add("FastmaskError", base)?;
    m.add("TemplateSyntaxError", py.get_type::<TemplateSyntaxError>())?;
    m.add("TemplateError", py.get_type::<TemplateError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("TokenizerError", py.get_type::<TokenizerError>())?;
    m.add("LimitError", py.get_type::<LimitError>())?;
    Ok(())
}
