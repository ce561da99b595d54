//! Python's `json.dumps` for transformers' `tojson`: `ensure_ascii`, `indent`, `separators` and
//! `sort_keys`, with Python's float printing and key coercion, bounded like printing.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::compare::py_cmp;
use super::objects::{DictView, Generator, PyMethod, PyRange};
use super::print::float_repr;
use super::types::is_namespace;
use crate::limits::MAX_NESTING;

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
        return Err(crate::jinja::scope::reached(format!(
            "recursion limit: tojson of a value nested deeper than {MAX_NESTING}"
        )));
    }
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
        ValueKind::Number => out.push_str(&json_float(f64::try_from(value.clone()).unwrap_or(f64::NAN))),
        ValueKind::String => write_json_string(value.as_str().unwrap_or_default(), options.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable
            if value.downcast_object_ref::<DictView>().is_none()
                && value.downcast_object_ref::<PyRange>().is_none()
                && value.downcast_object_ref::<Generator>().is_none() =>
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
            None if value.downcast_object_ref::<Generator>().is_some() => "generator".to_string(),
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
            py_cmp(&a.0, &b.0).unwrap_or_else(|err| {
                failed.get_or_insert(err);
                std::cmp::Ordering::Equal
            })
        });
        if let Some(err) = failed {
            return Err(err);
        }
    }
    let entries =
        entries.into_iter().map(|(key, item)| Ok((json_key(&key)?, item))).collect::<Result<Vec<_>, Error>>()?;
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
            crate::jinja::scope::check_string(out.len().saturating_add(indent.len().saturating_mul(level)), "tojson")?;
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
        crate::jinja::scope::check_string(out.len(), "tojson")?;
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
        let value =
            Value::from_pairs([("k", Value::from(vec![Value::from("😀")])), ("e", Value::from(Vec::<Value>::new()))]);
        let mut options = JsonOptions::new(Some("  ".into()));
        options.ensure_ascii = true;
        assert_eq!(
            json_dumps(&value, &options).unwrap(),
            "{\n  \"k\": [\n    \"\\ud83d\\ude00\"\n  ],\n  \"e\": []\n}"
        );
    }
}
