//! Resource limits for untrusted templates and data (the per-render state that enforces the ones
//! checked inside filters and methods is `jinja::scope`).
//!
//! A chat template is code from a model repository and training data is whatever was scraped:
//! every limit is on by default, sized far above what real templates and conversations need (the
//! README gives each default and its reason), and reaching one is a per-conversation
//! `ErrorKind::Limit` error that names the limit.
//!
//! The fields are declared once, below: the struct, its defaults, and the table of names, docs
//! and accessors (`Limits::FIELDS`) that the Python boundary exports (`fastmask.Limits` is built
//! from it) all come from that one declaration.

use crate::{Error, Result};

/// Declares `Limits`: each field's doc comment, name, type and default, in the order Python shows
/// them. Generates the struct, its `Default` and `Limits::FIELDS`.
macro_rules! declare_limits {
    ($($(#[doc = $doc:literal])+ $name:ident: $ty:ident = $default:expr;)+) => {
        /// The limits of one `ChatTokenizer`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Limits {
            $($(#[doc = $doc])+ pub $name: $ty,)+
        }

        impl Default for Limits {
            fn default() -> Self {
                Limits { $($name: $default,)+ }
            }
        }

        impl Limits {
            /// Every field, in declaration order.
            pub const FIELDS: &'static [LimitField] = &[$(LimitField {
                name: stringify!($name),
                doc: &[$($doc),+],
                get: |limits| Setting::to_u64(limits.$name),
                set: |limits, value| limits.$name = Setting::from_u64(value),
            }),+];
        }
    };
}

declare_limits! {
    /// Template steps per render: about one per instruction, plus one per 64 bytes of data the
    /// template builds; bounds a render's time and memory. A render of a large input gets
    /// `fuel_per_input_byte` per byte of its text instead when that gives more.
    // About 0.7 s of a runaway loop on one core of the reference machine.
    fuel: u64 = 30_000_000;
    /// Fuel per byte of a render's input text (message keys and values, tools, documents,
    /// keyword arguments): templates that walk every character need about 15 per byte, so a long
    /// conversation keeps the headroom a short one has.
    fuel_per_input_byte: u64 = 1_500;
    /// Nesting of macro calls, includes and loops (at most 500, minijinja's ceiling).
    recursion: usize = 500;
    /// Bytes of rendered text per conversation.
    output_bytes: usize = 64 * MIB;
    /// Bytes of any one string a filter, method or operator builds (`indent`, `center`, `join`,
    /// `replace`, `format`, `%`, `~`, `tojson`, `ljust`, widths), checked before it is allocated.
    string_bytes: usize = 64 * MIB;
    /// Bytes of the template source (checked when the tokenizer is built).
    template_bytes: usize = MIB;
    /// Bytes of string data (keys and values) in one conversation, and in `tools`, `documents`
    /// and the template keyword arguments.
    input_bytes: usize = 64 * MIB;
    /// Nesting depth of lists and dicts in the input; a dict or list that contains itself is
    /// refused whatever this is.
    input_depth: usize = 200;
}

const MIB: usize = 1024 * 1024;

/// One field of `Limits`: its name and doc as Python shows them, and its value as a `u64`.
pub struct LimitField {
    pub name: &'static str,
    doc: &'static [&'static str],
    get: fn(&Limits) -> u64,
    set: fn(&mut Limits, u64),
}

impl LimitField {
    /// The doc comment as one paragraph.
    pub fn doc(&self) -> String {
        self.doc.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ")
    }

    pub fn get(&self, limits: &Limits) -> u64 {
        (self.get)(limits)
    }

    pub fn default_value(&self) -> u64 {
        self.get(&Limits::default())
    }
}

/// The field types, read and written as `u64` (a size above `usize::MAX` saturates).
trait Setting {
    fn to_u64(self) -> u64;
    fn from_u64(value: u64) -> Self;
}

impl Setting for u64 {
    fn to_u64(self) -> u64 {
        self
    }

    fn from_u64(value: u64) -> Self {
        value
    }
}

impl Setting for usize {
    fn to_u64(self) -> u64 {
        u64::try_from(self).unwrap_or(u64::MAX)
    }

    fn from_u64(value: u64) -> Self {
        usize::try_from(value).unwrap_or(usize::MAX)
    }
}

/// How deep values a template builds may nest where fastmask follows them: printing, `tojson`,
/// and values stored in a namespace. Python fails near this depth (its recursion limit, 1000)
/// when it prints or compares such a value, and minijinja's comparisons and hashing recurse once
/// per level on the native stack.
pub const MAX_NESTING: usize = 1000;

/// minijinja's ceiling on its recursion limit.
pub const MAX_RECURSION: usize = 500;

impl Limits {
    /// Sets the field called `name`.
    pub fn set(&mut self, name: &str, value: u64) -> Result<()> {
        let field = Limits::FIELDS
            .iter()
            .find(|field| field.name == name)
            .ok_or_else(|| Error::input(format!("limits: unknown limit {name:?}")))?;
        (field.set)(self, value);
        Ok(())
    }

    /// Each field's name and value, in declaration order.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Limits::FIELDS.iter().map(move |field| (field.name, field.get(self)))
    }

    pub fn validate(&self) -> Result<()> {
        if self.recursion == 0 || self.recursion > MAX_RECURSION {
            return Err(Error::input(format!("limits: recursion must be between 1 and {MAX_RECURSION}")));
        }
        if self.fuel == 0 {
            return Err(Error::input("limits: fuel must be at least 1"));
        }
        Ok(())
    }

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

    #[test]
    fn fields_are_declared_once() {
        let names: Vec<&str> = Limits::FIELDS.iter().map(|field| field.name).collect();
        assert_eq!(
            names,
            [
                "fuel",
                "fuel_per_input_byte",
                "recursion",
                "output_bytes",
                "string_bytes",
                "template_bytes",
                "input_bytes",
                "input_depth"
            ]
        );
        assert!(Limits::FIELDS.iter().all(|field| !field.doc().is_empty() && !field.doc().contains("  ")));
        let defaults = Limits::default();
        assert_eq!(Limits::FIELDS[2].default_value(), defaults.recursion as u64);
        assert_eq!(defaults.values().find(|(name, _)| *name == "input_bytes"), Some(("input_bytes", 64 << 20)));
    }

    #[test]
    fn fields_are_set_by_name() {
        let mut limits = Limits::default();
        limits.set("input_depth", 7).unwrap();
        limits.set("fuel", u64::MAX).unwrap();
        assert_eq!((limits.input_depth, limits.fuel), (7, u64::MAX));
        limits.set("output_bytes", u64::MAX).unwrap();
        assert_eq!(limits.output_bytes, usize::MAX);
        let err = limits.set("nope", 1).unwrap_err();
        assert_eq!(err.message, "limits: unknown limit \"nope\"");
    }
}
