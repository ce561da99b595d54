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
    /// the template creates. Bounds the time and memory of a render. A render of a large input
    /// gets `fuel_per_input_byte` per byte of its text instead when that is more.
    pub fuel: u64,
    /// Fuel per byte of a render's input text (message keys and values, tools, documents,
    /// keyword arguments): templates that walk every character need about 15 per byte, so a
    /// long conversation keeps the same headroom as a short one.
    pub fuel_per_input_byte: u64,
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
            // About 0.7 s of a runaway loop on one core of the reference machine.
            fuel: 30_000_000,
            fuel_per_input_byte: 1_500,
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

/// How deep values a template builds may nest where fastmask follows them: printing, `tojson`,
/// and values stored in a namespace. Python fails near this depth (its recursion limit, 1000)
/// when it prints or compares such a value, and minijinja's comparisons and hashing recurse once
/// per level on the native stack.
pub const MAX_NESTING: usize = 1000;

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

impl Limits {
    /// The fuel of a render whose input holds `input_bytes` bytes of text.
    pub fn render_fuel(&self, input_bytes: usize) -> u64 {
        let per_input = self.fuel_per_input_byte.saturating_mul(u64::try_from(input_bytes).unwrap_or(u64::MAX));
        self.fuel.max(per_input)
    }
}

/// The limits of the render running on this thread, and the first limit it reached.
struct ActiveRender {
    string_bytes: usize,
    /// Bytes that printing lists, dicts and other non-strings may still write in this render.
    /// minijinja's fuel charges the printed result at one unit per 64 bytes, but printing a
    /// container costs about as much per byte as an instruction, so the render's fuel is also
    /// the number of bytes it may print this way (about half a second of printing).
    printed_bytes_left: u64,
    reached: Option<String>,
}

thread_local! {
    static ACTIVE: RefCell<Option<ActiveRender>> = const { RefCell::new(None) };
}

/// Makes `limits` the ones checked on this thread until dropped (even on early return or panic).
pub struct RenderGuard(());

impl RenderGuard {
    /// Installs `limits` for a render that has `fuel`.
    pub fn install(limits: &Limits, fuel: u64) -> Self {
        let active = ActiveRender { string_bytes: limits.string_bytes, printed_bytes_left: fuel, reached: None };
        ACTIVE.with(|cell| *cell.borrow_mut() = Some(active));
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

/// Whether the render on this thread has reached a limit: work that cannot fail at once
/// (printing) stops doing anything, and the render fails with that limit.
pub fn any_reached() -> bool {
    ACTIVE.with(|cell| cell.borrow().as_ref().is_some_and(|active| active.reached.is_some()))
}

/// How many bytes one print of a non-string value may write: the string limit, or less when
/// the render's printing allowance is nearly spent (the default string limit outside a render).
/// None once the render reached a limit: printing stops.
pub fn print_allowance() -> Option<usize> {
    ACTIVE.with(|cell| match cell.borrow().as_ref() {
        None => Some(Limits::default().string_bytes),
        Some(active) if active.reached.is_some() => None,
        Some(active) => Some(active.string_bytes.min(usize::try_from(active.printed_bytes_left).unwrap_or(usize::MAX))),
    })
}

/// Counts `bytes` printed against the render's printing allowance; when it is spent, records
/// the limit (which fails the render).
pub fn charge_printed(bytes: usize) {
    let spent = ACTIVE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let active = cell.as_mut()?;
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        active.printed_bytes_left = active.printed_bytes_left.checked_sub(bytes)?;
        Some(())
    });
    if spent.is_none() && ACTIVE.with(|cell| cell.borrow().is_some()) {
        drop(reached("fuel limit: printing lists, dicts and numbers would write more bytes than the render's fuel".to_string()));
    }
}

/// The string limit of the current render (the default outside a render).
pub fn string_limit() -> usize {
    ACTIVE.with(|cell| cell.borrow().as_ref().map(|active| active.string_bytes)).unwrap_or_else(|| Limits::default().string_bytes)
}

/// Fails when a string of `bytes` bytes, about to be built by `what`, would exceed the string
/// limit of the current render. Outside a render (unit tests of filters) the default applies.
pub fn check_string(bytes: usize, what: &str) -> Result<(), minijinja::Error> {
    let limit = string_limit();
    if bytes > limit {
        return Err(reached(format!("string limit: {what} would build {bytes} bytes, more than the limit of {limit}")));
    }
    Ok(())
}

/// Bytes a list item takes (a minijinja value), for the size of lists an operator builds.
pub const LIST_ITEM_BYTES: usize = 24;

/// Fails when a list of `items` items, about to be built by `what`, would take more bytes than
/// the string limit of the current render.
pub fn check_list(items: usize, what: &str) -> Result<(), minijinja::Error> {
    let limit = string_limit();
    if items.saturating_mul(LIST_ITEM_BYTES) > limit {
        return Err(reached(format!(
            "string limit: {what} would build a list of {items} items ({LIST_ITEM_BYTES} bytes each), more than the limit of {limit} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_limit_applies_and_is_recorded() {
        let limits = Limits { string_bytes: 10, ..Limits::default() };
        let guard = RenderGuard::install(&limits, limits.fuel);
        assert!(check_string(10, "x").is_ok());
        let err = check_string(11, "indent").unwrap_err();
        assert!(err.to_string().contains("indent would build 11 bytes"), "{err}");
        assert!(guard.reached().unwrap().starts_with("string limit"));
        drop(guard);
        assert!(check_string(11, "x").is_ok());
    }

    #[test]
    fn large_inputs_get_fuel_by_size() {
        let limits = Limits { fuel: 1000, fuel_per_input_byte: 10, ..Limits::default() };
        assert_eq!(limits.render_fuel(0), 1000);
        assert_eq!(limits.render_fuel(100), 1000);
        assert_eq!(limits.render_fuel(101), 1010);
        assert_eq!(Limits { fuel_per_input_byte: u64::MAX, ..limits }.render_fuel(2), u64::MAX);
    }

    #[test]
    fn recursion_is_bounded_by_minijinja() {
        assert!(Limits { recursion: 501, ..Limits::default() }.validate().is_err());
        assert!(Limits::default().validate().is_ok());
    }
}
