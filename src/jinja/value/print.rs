//! Python's way of printing values, which templates rely on: `str()` for `{{ x }}`, `repr()` for
//! items inside printed containers, `float.__repr__`, and `json.dumps` for transformers' `tojson`.

use minijinja::value::{Value, ValueKind};

use super::objects::{tuple_items, DictView, Generator, PyMethod, PyRange};
use super::types::is_namespace;
use crate::limits::MAX_NESTING;

/// `str(value)` as Python prints it; undefined prints as nothing, like jinja2's default Undefined.
///
/// Printing is bounded: text beyond the string limit or nesting beyond `MAX_NESTING` stops
/// the printing and records the limit, which fails the render (`limits::reached`). Once a render
/// has reached a limit, printing writes nothing more, so a loop cannot rebuild a huge text on
/// every turn. (No value is inside itself: `operators::store` refuses such namespaces.)
pub fn write_str(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        _ => write_repr(value, out),
    }
}

/// `repr(value)` as Python prints it, bounded as `write_str` is.
pub fn write_repr(value: &Value, out: &mut String) {
    let Some(allowance) = crate::jinja::scope::print_allowance() else {
        return;
    };
    let start = out.len();
    let mut printer = Printer { out, start, depth: 0, limit: allowance, stopped: false };
    printer.repr(value);
    let written = printer.out.len() - start;
    crate::jinja::scope::charge_printed(written);
}

/// Python's `str` as a string.
pub fn py_str(value: &Value) -> String {
    let mut out = String::new();
    write_str(value, &mut out);
    out
}

/// Python's `repr` as a string.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

/// One bounded print: where it started in `out`, how many containers deep it is, and the most
/// bytes it may write.
struct Printer<'a> {
    out: &'a mut String,
    start: usize,
    depth: usize,
    limit: usize,
    /// Set when a limit stopped the print: every enclosing container stops too.
    stopped: bool,
}

impl Printer<'_> {
    /// False once the text is too long or a limit was reached: the caller stops.
    fn within_limits(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        if self.out.len() - self.start > self.limit {
            self.stopped = true;
            // Past the string limit, or past what is left of the printing allowance, which
            // `charge_printed` then reports.
            if self.limit == crate::jinja::scope::string_limit() {
                let message = format!("string limit: printing a value would build more than {} bytes", self.limit);
                drop(crate::jinja::scope::reached(message));
            }
            return false;
        }
        true
    }

    /// Enters a container: false when printing goes too deep.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_NESTING {
            let message = format!("recursion limit: a printed value is nested deeper than {MAX_NESTING}");
            drop(crate::jinja::scope::reached(message));
            self.stopped = true;
            return false;
        }
        self.depth += 1;
        true
    }

    fn repr(&mut self, value: &Value) {
        match value.kind() {
            // jinja2's `repr(Undefined)`, seen inside containers (`[m.missing]`).
            ValueKind::Undefined => self.out.push_str("Undefined"),
            ValueKind::None => self.out.push_str("None"),
            ValueKind::Bool => self.out.push_str(if value.is_true() { "True" } else { "False" }),
            ValueKind::Number => write_number(value, self.out),
            ValueKind::String => write_string_repr(value.as_str().unwrap_or_default(), self.out),
            ValueKind::Seq if value.downcast_object_ref::<PyRange>().is_some() => {
                if let Some(range) = value.downcast_object_ref::<PyRange>() {
                    range.write_repr(self.out);
                }
            }
            ValueKind::Seq if tuple_items(value).is_some() => {
                if self.enter() {
                    self.tuple(&tuple_items(value).unwrap_or_default());
                    self.depth -= 1;
                }
            }
            ValueKind::Iterable if value.downcast_object_ref::<Generator>().is_some() => {
                if let Some(generator) = value.downcast_object_ref::<Generator>() {
                    generator.write_repr(self.out);
                }
            }
            ValueKind::Seq | ValueKind::Iterable => match value.downcast_object_ref::<DictView>() {
                Some(view) => {
                    self.out.push_str(view.type_name());
                    self.out.push('(');
                    self.seq(&Value::from(view.items()));
                    self.out.push(')');
                }
                None => self.seq(value),
            },
            ValueKind::Map if is_namespace(value) => {
                // jinja2's `Namespace.__repr__`.
                self.out.push_str("<Namespace ");
                self.map(value);
                self.out.push('>');
            }
            ValueKind::Map => self.map(value),
            _ => match value.downcast_object_ref::<PyMethod>() {
                Some(method) => method.write_repr(self.out),
                None => self.out.push_str(&value.to_string()),
            },
        }
    }

    /// `a, b, c`; false when a limit stopped the printing.
    fn items<V: std::borrow::Borrow<Value>>(&mut self, items: impl Iterator<Item = V>) -> bool {
        for (index, item) in items.enumerate() {
            if index > 0 {
                self.out.push_str(", ");
            }
            self.repr(item.borrow());
            if !self.within_limits() {
                return false;
            }
        }
        true
    }

    /// `(a, b)`, and `(a,)` for one item.
    fn tuple(&mut self, items: &[Value]) {
        self.out.push('(');
        if !self.items(items.iter()) {
            return;
        }
        if items.len() == 1 {
            self.out.push(',');
        }
        self.out.push(')');
    }

    fn seq(&mut self, value: &Value) {
        if !self.enter() {
            return;
        }
        self.out.push('[');
        let complete = match value.downcast_object_ref::<Vec<Value>>() {
            // A list: its items without an iterator object or a copy of each.
            Some(items) => self.items(items.iter()),
            None => value.try_iter().map_or(true, |items| self.items(items)),
        };
        if !complete {
            return;
        }
        self.out.push(']');
        self.depth -= 1;
    }

    fn map(&mut self, value: &Value) {
        if !self.enter() {
            return;
        }
        self.out.push('{');
        if let Ok(keys) = value.try_iter() {
            for (index, key) in keys.enumerate() {
                if index > 0 {
                    self.out.push_str(", ");
                }
                self.repr(&key);
                self.out.push_str(": ");
                self.repr(&value.get_item(&key).unwrap_or_default());
                if !self.within_limits() {
                    return;
                }
            }
        }
        self.out.push('}');
        self.depth -= 1;
    }
}

fn write_number(value: &Value, out: &mut String) {
    if value.is_integer() {
        out.push_str(&value.to_string());
    } else {
        out.push_str(&float_repr(f64::try_from(value.clone()).unwrap_or(f64::NAN)));
    }
}

/// Python's string repr: single quotes unless the text holds `'` and no `"`.
fn write_string_repr(text: &str, out: &mut String) {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => match c as u32 {
                code @ 0..=0xff => out.push_str(&format!("\\x{code:02x}")),
                code @ 0x100..=0xffff => out.push_str(&format!("\\u{code:04x}")),
                code => out.push_str(&format!("\\U{code:08x}")),
            },
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for one character: everything but the "Other" and "Separator"
/// categories, with the ASCII space allowed.
pub fn is_printable(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory as Category};
    c == ' '
        || !matches!(
            get_general_category(c),
            Category::Control
                | Category::Format
                | Category::Surrogate
                | Category::PrivateUse
                | Category::Unassigned
                | Category::LineSeparator
                | Category::ParagraphSeparator
                | Category::SpaceSeparator
        )
}

/// Python's `str.isspace` for one character: Rust's Unicode White_Space plus the ASCII
/// information separators U+001C..U+001F, which Python also strips and splits on.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `float.__repr__`: the shortest digits that round-trip, positional for exponents in
/// [-4, 16), scientific with a two-digit signed exponent otherwise (`1e-05`, `1e+16`).
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5" or "-3e16".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        format!("{sign}{}", positional(&digits, exponent))
    } else {
        let (head, tail) = digits.split_at(1);
        let fraction = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{head}{fraction}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Digits `d1 d2 d3…` meaning `d1.d2d3… × 10^exponent`, written without an exponent.
fn positional(digits: &str, exponent: i32) -> String {
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let int_len = exponent as usize + 1;
    if digits.len() <= int_len {
        format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
    } else {
        format!("{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (0.1, "0.1"),
            (1.0, "1.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-2.5, "-2.5"),
            (1.5e-7, "1.5e-07"),
            (0.0, "0.0"),
            (1e300, "1e+300"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value}");
        }
    }

    #[test]
    fn repr_escapes_what_python_cannot_print() {
        let mut out = String::new();
        write_repr(&Value::from("a\u{200d}b\u{a0}\u{1}\u{e000}é 😀"), &mut out);
        assert_eq!(out, r"'a\u200db\xa0\x01\ue000é 😀'");
    }

    #[test]
    fn repr_of_containers() {
        let value =
            Value::from_pairs([("a", Value::from(vec![Value::from("it's"), Value::from(true), Value::from(())]))]);
        let mut out = String::new();
        write_str(&value, &mut out);
        assert_eq!(out, r#"{'a': ["it's", True, None]}"#);
    }
}
