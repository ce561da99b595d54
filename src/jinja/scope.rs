//! The state of the render running on this thread: what the template functions, filters and
//! printing reach while minijinja renders. Rendering is synchronous on one thread and the
//! environment's functions are shared by every thread, so the state lives in a thread-local,
//! installed for one render by [`Scope::install`] and removed when the scope ends (even on an
//! early return or a panic).
//!
//! It holds the limits checked inside filters, methods and printing (and the first one reached),
//! the top-level output with its character count, the generation spans recorded so far, and the
//! message of `raise_exception`.

use std::cell::RefCell;

use crate::limits::Limits;

/// A generation block in the rendered text, in bytes and in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_byte: usize,
    pub end_byte: usize,
    pub start_char: usize,
    pub end_char: usize,
}

/// One render's state.
#[derive(Default)]
pub struct RenderState {
    string_bytes: usize,
    /// Bytes that printing lists, dicts and other non-strings may still write in this render.
    /// minijinja's fuel charges the printed result at one unit per 64 bytes, but printing a
    /// container costs about as much per byte as an instruction, so the render's fuel is also
    /// the number of bytes it may print this way (about half a second of printing).
    printed_bytes_left: u64,
    /// The message of the first limit the render reached.
    pub reached: Option<String>,
    /// The top-level output, at most `output_limit` bytes.
    pub output: Vec<u8>,
    pub output_limit: usize,
    /// Characters in `output[..counted_bytes]`: counted when a span needs them, not per write.
    counted_bytes: usize,
    counted_chars: usize,
    /// Generation blocks in the order they finished.
    pub spans: Vec<Span>,
    /// Where each generation block written straight to the output opened and is not closed
    /// yet: the output's length then, in bytes and in characters.
    pub open_blocks: Vec<(usize, usize)>,
    /// The message of `raise_exception`, when the template raised.
    pub raised: Option<String>,
}

impl RenderState {
    /// The top-level output's length in characters, counting only what was written since the
    /// last call.
    pub fn output_chars(&mut self) -> usize {
        self.counted_chars += utf8_chars(&self.output[self.counted_bytes..]);
        self.counted_bytes = self.output.len();
        self.counted_chars
    }
}

/// Characters in UTF-8 `bytes`: the bytes that do not continue a character (`10xxxxxx`),
/// counted eight at a time.
pub fn utf8_chars(bytes: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let (words, tail) = bytes.as_chunks::<8>();
    let continuations: u32 = words
        .iter()
        .map(|word| {
            let word = u64::from_ne_bytes(*word);
            (word & !(word << 1) & HIGH_BITS).count_ones()
        })
        .sum();
    let tail_continuations = tail.iter().filter(|byte| (**byte & 0xC0) == 0x80).count();
    bytes.len() - continuations as usize - tail_continuations
}

thread_local! {
    static ACTIVE: RefCell<Option<RenderState>> = const { RefCell::new(None) };
}

/// The render state of this thread for as long as it lives.
pub struct Scope(());

impl Scope {
    /// A fresh state for a render under `limits` that has `fuel`, its output buffer sized for
    /// `expected_bytes`.
    pub fn install(limits: &Limits, fuel: u64, expected_bytes: usize) -> Self {
        let state = RenderState {
            string_bytes: limits.string_bytes,
            printed_bytes_left: fuel,
            output: Vec::with_capacity(expected_bytes.min(limits.output_bytes)),
            output_limit: limits.output_bytes,
            ..RenderState::default()
        };
        ACTIVE.with(|cell| *cell.borrow_mut() = Some(state));
        Scope(())
    }

    /// Ends the render: its state.
    pub fn finish(self) -> RenderState {
        ACTIVE.with(|cell| cell.borrow_mut().take()).unwrap_or_default()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        ACTIVE.with(|cell| cell.borrow_mut().take());
    }
}

/// Runs `f` on the state of the render on this thread; None outside a render.
pub fn with_state<R>(f: impl FnOnce(&mut RenderState) -> R) -> Option<R> {
    ACTIVE.with(|cell| cell.borrow_mut().as_mut().map(f))
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
        drop(reached(
            "fuel limit: printing lists, dicts and numbers would write more bytes than the render's fuel".to_string(),
        ));
    }
}

/// The string limit of the current render (the default outside a render).
pub fn string_limit() -> usize {
    ACTIVE
        .with(|cell| cell.borrow().as_ref().map(|active| active.string_bytes))
        .unwrap_or_else(|| Limits::default().string_bytes)
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
    fn utf8_chars_counts_characters_at_every_length_and_offset() {
        let text = "aé€😀 x\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}".repeat(5);
        for start in 0..text.len() {
            for end in start..=text.len() {
                if let Some(slice) = text.get(start..end) {
                    assert_eq!(utf8_chars(slice.as_bytes()), slice.chars().count(), "{start}..{end}");
                }
            }
        }
    }

    #[test]
    fn the_installed_limit_applies_and_is_recorded() {
        let limits = Limits { string_bytes: 10, ..Limits::default() };
        let scope = Scope::install(&limits, limits.fuel, 0);
        assert!(check_string(10, "x").is_ok());
        let err = check_string(11, "indent").unwrap_err();
        assert!(err.to_string().contains("indent would build 11 bytes"), "{err}");
        assert!(scope.finish().reached.unwrap().starts_with("string limit"));
        assert!(check_string(11, "x").is_ok());
    }
}
