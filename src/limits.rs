//! Resource limits for untrusted templates and data (the per-render state that enforces the ones
//! checked inside filters and methods is `jinja::scope`).
//!
//! A chat template is code from a model repository and training data is whatever was scraped:
//! every limit is on by default, sized far above what real templates and conversations need (the
//! README gives each default and its reason), and reaching one is a per-conversation
//! `ErrorKind::Limit` error that names the limit.

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

#[cfg(test)]
mod tests {
    use super::*;

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
