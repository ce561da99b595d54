//! Resource limits for untrusted templates and data, and the per-render state that enforces the
//! ones checked inside filters and methods.
//!
//! A chat template is code from a model repository and training data is whatever was scraped:
//! every limit is on by default, sized far above what real templates and conversations need (the
//! README gives each default and its reason), and reaching one is a per-conversation
//! `ErrorKind::Limit` error that names the limit.

use std::cell::RefCell;

/// The limits of one `ChatTokenizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel per render: about one unit per instruction plus one per 64 bytes of data
    /// the template creates. Bounds the time and memory of a render.
    pub fuel: u64,
    /// Nesting of macro calls, includes and loops (minijinja cannot go above 500).
    pub recursion: usize,
    /// Bytes of rendered text per conversation.
    pub output_bytes: usize,
    /// Bytes of any one string a filter, method or operator builds (`indent`, `center`, `join`,
    /// `replace`, `format`, `%`, `~`, `tojson`, `ljust`, ...), checked before it is allocated.
    pub string_bytes: usize,
    /// Bytes of the template source.
    pub template_bytes: usize,
    /// Bytes of string data (keys and values) in one conversation, and in `tools`, `documents`
    /// and the template keyword arguments.
    pub input_bytes: usize,
    /// Nesting depth of lists and dicts in the input.
    pub input_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 50_000_000,
            recursion: 500,
            output_bytes: 64 * MIB,
            string_bytes: 64 * MIB,
            template_bytes: MIB,
            input_bytes: 64 * MIB,
            input_depth: 200,
        }
    }
}

const MIB: usize = 1024 * 1024;

/// minijinja's ceiling on its recursion limit.
pub const MAX_RECURSION: usize = 500;

impl Limits {
    pub fn validate(&self) -> crate::Result<()> {
        if self.recursion == 0 || self.recursion > MAX_RECURSION {
            return Err(crate::Error::input(format!("limits: recursion must be between 1 and {MAX_RECURSION}")));
        }
        if self.fuel == 0 {
            return Err(crate::Error::input("limits: fuel must be at least 1"));
        }
        Ok(())
    }
}

/// The limits of the render running on this thread, and the first limit it reached.
struct ActiveRender {
    string_bytes: usize,
    reached: Option<String>,
}

thread_local! {
    static ACTIVE: RefCell<Option<ActiveRender>> = const { RefCell::new(None) };
}

/// Makes `limits` the ones checked on this thread until dropped (even on early return or panic).
pub struct RenderGuard(());

impl RenderGuard {
    pub fn install(limits: &Limits) -> Self {
        ACTIVE.with(|cell| *cell.borrow_mut() = Some(ActiveRender { string_bytes: limits.string_bytes, reached: None }));
        RenderGuard(())
    }

    /// The message of the first limit the render reached, if any.
    pub fn reached(&self) -> Option<String> {
        ACTIVE.with(|cell| cell.borrow().as_ref().and_then(|active| active.reached.clone()))
    }
}

impl Drop for RenderGuard {
    fn drop(&mut self) {
        ACTIVE.with(|cell| cell.borrow_mut().take());
    }
}

/// Records that a limit was reached and returns the template error that stops the render.
pub fn reached(message: String) -> minijinja::Error {
    ACTIVE.with(|cell| {
        if let Some(active) = cell.borrow_mut().as_mut() {
            active.reached.get_or_insert_with(|| message.clone());
        }
    });
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message)
}

/// Fails when a string of `bytes` bytes, about to be built by `what`, would exceed the string
/// limit of the current render. Outside a render (unit tests of filters) the default applies.
pub fn check_string(bytes: usize, what: &str) -> Result<(), minijinja::Error> {
    let limit = ACTIVE.with(|cell| cell.borrow().as_ref().map(|active| active.string_bytes));
    let limit = limit.unwrap_or_else(|| Limits::default().string_bytes);
    if bytes > limit {
        return Err(reached(format!("string limit: {what} would build {bytes} bytes, more than the limit of {limit}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_limit_applies_and_is_recorded() {
        let limits = Limits { string_bytes: 10, ..Limits::default() };
        let guard = RenderGuard::install(&limits);
        assert!(check_string(10, "x").is_ok());
        let err = check_string(11, "indent").unwrap_err();
        assert!(err.to_string().contains("indent would build 11 bytes"), "{err}");
        assert!(guard.reached().unwrap().starts_with("string limit"));
        drop(guard);
        assert!(check_string(11, "x").is_ok());
    }

    #[test]
    fn recursion_is_bounded_by_minijinja() {
        assert!(Limits { recursion: 501, ..Limits::default() }.validate().is_err());
        assert!(Limits::default().validate().is_ok());
    }
}
