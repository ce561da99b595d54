//! The one error type of the core. Python exception classes are chosen from `ErrorKind`, and get
//! the conversation and message indices as attributes, in `src/python/errors.rs`.

use std::fmt;

/// What went wrong, which decides the Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The template source does not parse (`TemplateSyntaxError`).
    TemplateSyntax,
    /// The template failed while rendering, including `raise_exception(...)` (`TemplateError`).
    Template,
    /// The conversation or an option is malformed (`InputError`).
    Input,
    /// The tokenizer JSON could not be loaded or a text could not be encoded (`TokenizerError`).
    Tokenizer,
    /// A configured limit was reached: fuel, output or input size, nesting (`LimitError`).
    Limit,
    /// A bug in fastmask itself, such as a caught panic (`FastmaskError`).
    Internal,
}

/// An error with the conversation and the message it belongs to, when it belongs to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// The text, without the conversation (which `Display` prefixes); it begins with
    /// `message {index}: ` when `message_index` is set.
    pub message: String,
    /// Index of the conversation in its batch; `None` for errors outside any conversation.
    pub conversation: Option<usize>,
    /// Index of the message within its conversation, when the error names one.
    pub message_index: Option<usize>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), conversation: None, message_index: None }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Input, message)
    }

    pub fn tokenizer(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Tokenizer, message)
    }

    pub fn limit(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Limit, message)
    }

    /// Attaches the batch index, keeping an index that is already there.
    pub fn in_conversation(mut self, index: usize) -> Self {
        self.conversation.get_or_insert(index);
        self
    }

    /// Names the message the error is about: `message {index}: ` before the text, and the index.
    /// A message named before is replaced, so the index is always the one the text begins with.
    pub fn in_message(self, index: usize) -> Self {
        Error { message: format!("message {index}: {}", self.message), message_index: Some(index), ..self }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.conversation {
            Some(index) => write!(f, "conversation {index}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// Runs `work`, turning a panic into an `Internal` error so one bad item never takes down the
/// call, and Python never sees pyo3's `PanicException` (a `BaseException` that `except Exception`
/// misses). Panics print nothing extra here: the hook has already reported them.
pub fn catch_panic<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::new(
                ErrorKind::Internal,
                format!("internal error (a bug in fastmask, please report it): {detail}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_the_conversation() {
        let err = Error::input("message 3: content must be a string").in_conversation(17);
        assert_eq!(err.to_string(), "conversation 17: message 3: content must be a string");
    }

    #[test]
    fn message_index_is_the_one_the_text_begins_with() {
        let err = Error::input("content must be a string").in_message(3).in_conversation(17);
        assert_eq!(err.to_string(), "conversation 17: message 3: content must be a string");
        assert_eq!((err.conversation, err.message_index), (Some(17), Some(3)));
        let outer = Error::input(err.message.clone()).in_message(4);
        assert_eq!(
            (outer.message.as_str(), outer.message_index),
            ("message 4: message 3: content must be a string", Some(4))
        );
        assert_eq!(Error::input("x").message_index, None);
    }

    #[test]
    fn panics_become_internal_errors() {
        let err = catch_panic::<()>(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal);
        assert!(err.message.ends_with("boom 7"), "{}", err.message);
        assert_eq!(catch_panic(|| Ok(3)), Ok(3));
    }

    #[test]
    fn first_index_wins() {
        let err = Error::input("x").in_conversation(2).in_conversation(5);
        assert_eq!(err.conversation, Some(2));
    }
}
