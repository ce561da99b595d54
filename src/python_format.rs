//! Python's way of printing values, which templates rely on: `str()` for `{{ x }}`, `repr()` for
//! items inside printed containers, `float.__repr__`, and `json.dumps` for transformers' `tojson`.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::limits::MAX_NESTING;
use crate::pyobjects::{is_namespace, tuple_items, DictView, PyMethod, PyRange};

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
    let Some(allowance) = crate::limits::print_allowance() else {
        return;
    };
    let start = out.len();
    let mut printer = Printer { out, start, depth: 0, limit: allowance, stopped: false };
    printer.repr(value);
    let written = printer.out.len() - start;
    crate::limits::charge_printed(written);
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
            if self.limit == crate::limits::string_limit() {
                let message = format!("string limit: printing a value would build more than {} bytes", self.limit);
                drop(crate::limits::reached(message));
            }
            return false;
        }
        true
    }

    /// Enters a container: false when printing goes too deep.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_NESTING {
            let message = format!("recursion limit: a printed value is nested deeper than {MAX_NESTING}");
            drop(crate::limits::reached(message));
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

/// Options of Python's `json.dumps` that transformers' `tojson` exposes.
pub struct JsonOptions {
    pub ensure_ascii: bool,
    /// The indent string per level; `None` keeps everything on one line.
    pub indent: Option<String>,
    pub item_separator: String,
    pub key_separator: String,
    pub sort_keys: bool,
}

impl JsonOptions {
    /// Python's defaults: `", "` between items, or `","` when indenting.
    pub fn new(indent: Option<String>) -> Self {
        let item_separator = if indent.is_some() { "," } else { ", " }.to_string();
        JsonOptions { ensure_ascii: false, indent, item_separator, key_separator: ": ".into(), sort_keys: false }
    }
}

/// `json.dumps(value, ...)`.
pub fn json_dumps(value: &Value, options: &JsonOptions) -> Result<String, Error> {
    let mut out = String::new();
    write_json(value, options, 0, &mut out)?;
    Ok(out)
}

fn write_json(value: &Value, options: &JsonOptions, depth: usize, out: &mut String) -> Result<(), Error> {
    if depth >= MAX_NESTING {
        // Python's json.dumps fails with a RecursionError there (and reports a cycle sooner;
        // namespaces, the only containers a template can put inside themselves, are not JSON).
        return Err(crate::limits::reached(format!("recursion limit: tojson of a value nested deeper than {MAX_NESTING}")));
    }
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
        ValueKind::Number => out.push_str(&json_float(f64::try_from(value.clone()).unwrap_or(f64::NAN))),
        ValueKind::String => write_json_string(value.as_str().unwrap_or_default(), options.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable
            if value.downcast_object_ref::<DictView>().is_none() && value.downcast_object_ref::<PyRange>().is_none() =>
        {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_json_container(('[', ']'), &items, options, depth, out, |item, out| {
                write_json(item, options, depth + 1, out)
            })?;
        }
        ValueKind::Map if !is_namespace(value) => write_json_map(value, options, depth, out)?,
        _ => return Err(not_serializable(value)),
    }
    Ok(())
}

/// `TypeError: Object of type X is not JSON serializable`, with Python's type names.
fn not_serializable(value: &Value) -> Error {
    let name = match value.kind() {
        ValueKind::Map => "TemplateNamespace".to_string(),
        ValueKind::Seq | ValueKind::Iterable => match value.downcast_object_ref::<DictView>() {
            Some(view) => view.type_name().to_string(),
            None => "range".to_string(),
        },
        ValueKind::Undefined => "Undefined".to_string(),
        _ if value.downcast_object_ref::<PyMethod>().is_some() => "builtin_function_or_method".to_string(),
        _ => "function".to_string(),
    };
    Error::new(ErrorKind::InvalidOperation, format!("Object of type {name} is not JSON serializable"))
}

fn write_json_map(value: &Value, options: &JsonOptions, depth: usize, out: &mut String) -> Result<(), Error> {
    let mut entries = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        entries.push((key, item));
    }
    if options.sort_keys {
        // Python sorts the original keys, so `2` comes before `10`, and mixed types fail.
        let mut failed = None;
        entries.sort_by(|a, b| {
            crate::operators::py_cmp(&a.0, &b.0).unwrap_or_else(|err| {
                failed.get_or_insert(err);
                std::cmp::Ordering::Equal
            })
        });
        if let Some(err) = failed {
            return Err(err);
        }
    }
    let entries = entries
        .into_iter()
        .map(|(key, item)| Ok((json_key(&key)?, item)))
        .collect::<Result<Vec<_>, Error>>()?;
    write_json_container(('{', '}'), &entries, options, depth, out, |(key, item), out| {
        write_json_string(key, options.ensure_ascii, out);
        out.push_str(&options.key_separator);
        write_json(item, options, depth + 1, out)
    })
}

/// Writes `[a, b]` / `{...}` with Python's separators and indentation.
fn write_json_container<T>(
    (open, close): (char, char),
    items: &[T],
    options: &JsonOptions,
    depth: usize,
    out: &mut String,
    mut write_item: impl FnMut(&T, &mut String) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return Ok(());
    }
    let newline = |level: usize, out: &mut String| -> Result<(), Error> {
        if let Some(indent) = &options.indent {
            crate::limits::check_string(out.len().saturating_add(indent.len().saturating_mul(level)), "tojson")?;
            out.push('\n');
            for _ in 0..level {
                out.push_str(indent);
            }
        }
        Ok(())
    };
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(&options.item_separator);
        }
        newline(depth + 1, out)?;
        write_item(item, out)?;
        crate::limits::check_string(out.len(), "tojson")?;
    }
    newline(depth, out)?;
    out.push(close);
    Ok(())
}

/// Dict keys as `json.dumps` converts them: strings as they are, scalars to their JSON text.
fn json_key(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number if key.is_integer() => Ok(key.to_string()),
        ValueKind::Number => Ok(json_float(f64::try_from(key.clone()).unwrap_or(f64::NAN))),
        kind => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("keys must be str, int, float, bool or None, not {kind}"),
        )),
    }
}

fn json_float(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".into(),
        v if v.is_infinite() && v > 0.0 => "Infinity".into(),
        v if v.is_infinite() => "-Infinity".into(),
        v => float_repr(v),
    }
}

fn write_json_string(text: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
    fn json_matches_python_defaults() {
        let value = Value::from_pairs([
            ("a", Value::from(vec![Value::from(1), Value::from(0.5)])),
            ("b", Value::from("x<y>&'\"\n\u{1}é")),
            ("c", Value::from(())),
        ]);
        assert_eq!(
            json_dumps(&value, &JsonOptions::new(None)).unwrap(),
            r#"{"a": [1, 0.5], "b": "x<y>&'\"\n\u0001é", "c": null}"#
        );
    }

    #[test]
    fn json_indent_and_ascii() {
        let value = Value::from_pairs([("k", Value::from(vec![Value::from("😀")])), ("e", Value::from(Vec::<Value>::new()))]);
        let mut options = JsonOptions::new(Some("  ".into()));
        options.ensure_ascii = true;
        assert_eq!(json_dumps(&value, &options).unwrap(), "{\n  \"k\": [\n    \"\\ud83d\\ude00\"\n  ],\n  \"e\": []\n}");
    }

    #[test]
    fn repr_escapes_what_python_cannot_print() {
        let mut out = String::new();
        write_repr(&Value::from("a\u{200d}b\u{a0}\u{1}\u{e000}é 😀"), &mut out);
        assert_eq!(out, r"'a\u200db\xa0\x01\ue000é 😀'");
    }

    #[test]
    fn repr_of_containers() {
        let value = Value::from_pairs([("a", Value::from(vec![Value::from("it's"), Value::from(true), Value::from(())]))]);
        let mut out = String::new();
        write_str(&value, &mut out);
        assert_eq!(out, r#"{'a': ["it's", True, None]}"#);
    }
}
