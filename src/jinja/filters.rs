//! jinja2's filters where minijinja's differ or are missing: values are turned into text with
//! Python's `str()`, numbers are parsed and rounded as Python does, ordering refuses unrelated
//! types, and the HTML helpers escape as markupsafe does.

use std::borrow::Cow;
use std::cmp::Ordering;

use minijinja::value::{from_args, Kwargs, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::jinja::methods::{bind, strip};
use crate::jinja::value::compare::py_cmp;
use crate::jinja::value::format::{check_width, percent_format};
use crate::jinja::value::objects::{materialized, Generator, PyMethod};
use crate::jinja::value::print::{is_python_space, py_str, write_str};
use crate::jinja::value::types::{invalid_operation, is_namespace};

/// minijinja filters and tests jinja2 does not have: removed, so templates fail as in jinja2.
const MINIJINJA_ONLY_FILTERS: &[&str] = &["split", "lines", "bool", "chain", "zip"];
const MINIJINJA_ONLY_TESTS: &[&str] = &["safe", "int", "startingwith", "endingwith"];

/// Registers jinja2's versions of the filters (`tojson`, `string`, `length` and the tests are
/// registered by `environment.rs`).
/// The generator function behind jinja2's `select`, `reject`, `selectattr` and `rejectattr`.
const SELECT: &str = "select_or_reject";

pub fn register(env: &mut Environment<'static>) {
    for name in MINIJINJA_ONLY_FILTERS {
        env.remove_filter(name);
    }
    for name in MINIJINJA_ONLY_TESTS {
        env.remove_test(name);
    }
    env.add_filter("trim", |value: &Value, args: Args| {
        let a = params(args, &["chars"], 0)?;
        let chars = a[0].as_ref().filter(|c| !c.is_none()).map(py_str);
        let trimmed = match value.as_str().filter(|_| value.kind() == ValueKind::String) {
            Some(text) => Value::from(strip(text, chars.as_deref(), true, true)),
            None => Value::from(strip(&py_str(value), chars.as_deref(), true, true)),
        };
        Ok::<_, Error>(trimmed)
    });
    env.add_filter("upper", |value: &Value| py_str(value).to_uppercase());
    env.add_filter("lower", |value: &Value| py_str(value).to_lowercase());
    env.add_filter("capitalize", |value: &Value| capitalize(&py_str(value)));
    env.add_filter("title", |value: &Value| title(&py_str(value)));
    env.add_filter("center", |value: &Value, args: Args| {
        let a = params(args, &["width"], 0)?;
        center(&py_str(value), usize_or(&a[0], 80)?)
    });
    env.add_filter("replace", replace);
    env.add_filter("join", join);
    env.add_filter("format", format);
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("round", round);
    env.add_filter("sort", sort);
    env.add_filter("min", |state: &State, value: &Value, kwargs: Kwargs| extreme(state, value, kwargs, Ordering::Less));
    env.add_filter("max", |state: &State, value: &Value, kwargs: Kwargs| {
        extreme(state, value, kwargs, Ordering::Greater)
    });
    env.add_filter("dictsort", dictsort);
    env.add_filter("groupby", groupby);
    // minijinja's own versions, after Python's check that the value can be iterated.
    env.add_filter("unique", |state: &State, value: Value, kwargs: Kwargs| {
        let value = materialized(value);
        let attribute = kwargs.peek::<Option<&str>>("attribute")?;
        for item in py_iter(&value)? {
            let key = match attribute {
                Some(path) => get_path(&item, path)?,
                None => item,
            };
            let unhashable = matches!(key.kind(), ValueKind::Map)
                || (key.kind() == ValueKind::Seq && crate::jinja::value::objects::tuple_items(&key).is_none());
            if unhashable {
                return Err(invalid_operation(format!(
                    "TypeError: unhashable type: '{}'",
                    crate::jinja::value::types::type_name(&key)
                )));
            }
        }
        minijinja::filters::unique(state, value, kwargs)
    });
    env.add_filter("list", |state: &State, value: Value| {
        let value = materialized(value);
        py_iter(&value)?;
        minijinja::filters::list(state, value)
    });
    env.add_filter(
        "sum",
        |state: &State, value: Value, attribute: Option<&str>, start: Option<Value>, kwargs: Kwargs| {
            let value = materialized(value);
            py_iter(&value)?;
            minijinja::filters::sum(state, value, attribute, start, kwargs)
        },
    );
    env.add_filter("batch", |state: &State, value: Value, count: usize, fill: Option<Value>| {
        let value = materialized(value);
        py_iter(&value)?;
        minijinja::filters::batch(state, value, count, fill)
    });
    env.add_filter("slice", |state: &State, value: Value, count: usize, fill: Option<Value>| {
        let value = materialized(value);
        py_iter(&value)?;
        minijinja::filters::slice(state, value, count, fill)
    });
    // jinja2's versions return generators; minijinja's build the list at once.
    env.add_filter("map", |state: &mut State, value: Value, args: Rest<ValueOrKwargs>| {
        Ok::<_, Error>(Generator::new_value("sync_do_map", minijinja::filters::map(state, value, args)?))
    });
    env.add_filter(
        "select",
        |state: &mut State, value: Value, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            Ok::<_, Error>(Generator::new_value(SELECT, minijinja::filters::select(state, value, test, args)?))
        },
    );
    env.add_filter(
        "reject",
        |state: &mut State, value: Value, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            Ok::<_, Error>(Generator::new_value(SELECT, minijinja::filters::reject(state, value, test, args)?))
        },
    );
    env.add_filter(
        "selectattr",
        |state: &mut State, value: Value, attr: Cow<'_, str>, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            let items = minijinja::filters::selectattr(state, value, attr, test, args)?;
            Ok::<_, Error>(Generator::new_value(SELECT, items))
        },
    );
    env.add_filter(
        "rejectattr",
        |state: &mut State, value: Value, attr: Cow<'_, str>, test: Option<Cow<'_, str>>, args: Rest<ValueOrKwargs>| {
            let items = minijinja::filters::rejectattr(state, value, attr, test, args)?;
            Ok::<_, Error>(Generator::new_value(SELECT, items))
        },
    );
    env.add_filter("last", |value: Value| {
        if value.downcast_object_ref::<Generator>().is_some() {
            return Err(invalid_operation("TypeError: 'generator' object is not reversible"));
        }
        minijinja::filters::last(value)
    });
    // Python reverses what it cannot index by listing it first.
    env.add_filter("reverse", |value: Value| minijinja::filters::reverse(&materialized(value)));
    env.add_filter("attr", attr);
    env.add_filter("indent", indent);
    env.add_filter("wordcount", |value: &Value| {
        py_str(value).split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()).count()
    });
    env.add_filter("truncate", truncate);
    env.add_filter("escape", escape);
    env.add_filter("e", escape);
    env.add_filter("forceescape", |value: &Value| Value::from_safe_string(html_escape(&py_str(value))));
    env.add_filter("filesizeformat", filesizeformat);
    env.add_filter("xmlattr", xmlattr);
    env.add_filter("urlencode", urlencode);
}

/// A filter's arguments after the value, positional or by keyword.
type Args = Rest<ValueOrKwargs>;

/// Binds a filter's arguments to jinja2's parameter names.
fn params(args: Args, names: &[&str], required: usize) -> Result<Vec<Option<Value>>, Error> {
    if args.is_empty() && required == 0 {
        return Ok(vec![None; names.len()]);
    }
    let values: Vec<Value> = args.0.into_iter().map(ValueOrKwargs::into_value).collect();
    bind(&values, names, required)
}

fn present(value: &Option<Value>) -> Option<&Value> {
    value.as_ref().filter(|v| !v.is_none() && !v.is_undefined())
}

fn usize_or(value: &Option<Value>, default: usize) -> Result<usize, Error> {
    match present(value) {
        Some(v) => usize::try_from(v.clone()),
        None => Ok(default),
    }
}

fn bool_or(value: &Option<Value>, default: bool) -> bool {
    present(value).map_or(default, Value::is_true)
}

fn str_arg(value: &Option<Value>) -> Option<String> {
    present(value).map(py_str)
}

/// The items of `iter(value)`: Undefined iterates as empty, None and numbers are not iterable.
fn py_iter(value: &Value) -> Result<Vec<Value>, Error> {
    match value.kind() {
        ValueKind::Undefined => Ok(Vec::new()),
        ValueKind::None | ValueKind::Bool | ValueKind::Number | ValueKind::Plain => Err(invalid_operation(format!(
            "TypeError: '{}' object is not iterable",
            crate::jinja::value::types::type_name(value)
        ))),
        _ => Ok(value.try_iter()?.collect()),
    }
}

/// jinja2's Undefined fails when a filter converts it (`int()`, `float()`, `.items()`).
fn require_defined(value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "the value is undefined"));
    }
    Ok(())
}

/// Python's `str(value)`.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.as_str().to_lowercase().chars()).collect(),
        None => String::new(),
    }
}

/// jinja2's `title`: words start after `-`, `(`, `{`, `[`, `<` or whitespace.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = true;
    for c in text.chars() {
        if matches!(c, '-' | '(' | '{' | '[' | '<') || is_python_space(c) {
            out.push(c);
            word_start = true;
        } else if word_start {
            out.extend(c.to_uppercase());
            word_start = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn center(text: &str, width: usize) -> Result<String, Error> {
    let width = check_width(width)?;
    let len = text.chars().count();
    if len >= width {
        return Ok(text.to_string());
    }
    let margin = width - len;
    let left = margin / 2 + (margin & width & 1);
    Ok(" ".repeat(left) + text + &" ".repeat(margin - left))
}

/// `s|replace(old, new, count=None)` on `str(s)`.
fn replace(value: &Value, args: Args) -> Result<Value, Error> {
    let a = params(args, &["old", "new", "count"], 2)?;
    let (old, new) = (str_arg(&a[0]).unwrap_or_default(), str_arg(&a[1]).unwrap_or_default());
    let limit = present(&a[2]).and_then(Value::as_i64).filter(|n| *n >= 0).map(|n| n as usize);
    let replaced = crate::jinja::methods::replace(&py_str(value), &old, &new, limit)?;
    Ok(if value.is_safe() { Value::from_safe_string(replaced) } else { Value::from(replaced) })
}

/// `value|join(d='', attribute=None)`: `str(d).join(map(str, value))`.
fn join(value: &Value, args: Args) -> Result<String, Error> {
    let a = params(args, &["d", "attribute"], 0)?;
    let separator = str_arg(&a[0]).unwrap_or_default();
    let attribute = str_arg(&a[1]);
    let attribute = attribute.as_deref();
    let mut out = String::new();
    for (index, item) in py_iter(value)?.into_iter().enumerate() {
        if index > 0 {
            out.push_str(&separator);
        }
        let item = match attribute {
            Some(path) => get_path(&item, path)?,
            None => item,
        };
        write_str(&item, &mut out);
        crate::jinja::scope::check_string(out.len(), "join")?;
    }
    Ok(out)
}

/// `value|format(*args, **kwargs)`: `str(value) % (kwargs or args)`.
fn format(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let names: Vec<&str> = kwargs.args().collect();
    if !args.is_empty() && !names.is_empty() {
        return Err(invalid_operation("can't handle positional and keyword arguments at the same time"));
    }
    let operand = if names.is_empty() {
        Value::from(minijinja::value::Tuple::from(args.0))
    } else {
        let pairs =
            names.iter().map(|name| Ok((*name, kwargs.get::<Value>(name)?))).collect::<Result<Vec<_>, Error>>()?;
        Value::from_pairs(pairs)
    };
    kwargs.assert_all_used()?;
    percent_format(&py_str(value), &operand)
}

/// Python's `int(text, base)`: optional sign, `_` between digits, base prefixes.
fn parse_int(text: &str, base: u32) -> Option<i128> {
    let text = text.trim_matches(is_python_space);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (base, digits) = match (base, lower.get(..2)) {
        (0 | 16, Some("0x")) => (16, &digits[2..]),
        (0 | 8, Some("0o")) => (8, &digits[2..]),
        (0 | 2, Some("0b")) => (2, &digits[2..]),
        (0, _) if digits.len() > 1 && digits.starts_with('0') && digits.trim_start_matches(['0', '_']).is_empty() => {
            (10, digits)
        }
        (0, _) if digits.starts_with('0') && digits.len() > 1 => return None,
        (0, _) => (10, digits),
        (base, _) => (base, digits),
    };
    let digits = digits.strip_prefix('_').filter(|_| base != 10).unwrap_or(digits);
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits.replace('_', ""), base).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Python's `float(text)`.
fn parse_float(text: &str) -> Option<f64> {
    let text = text.trim_matches(is_python_space);
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok().or(Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }));
    }
    let valid = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E' | '_'))
        && !text.contains("__")
        && !text.starts_with('_')
        && !text.ends_with('_');
    if !valid {
        return None;
    }
    text.replace('_', "").parse::<f64>().ok()
}

/// jinja2's `int(value, default=0, base=10)`.
fn int(value: &Value, args: Args) -> Result<Value, Error> {
    require_defined(value)?;
    let a = params(args, &["default", "base"], 0)?;
    let default = a[0].clone().unwrap_or(Value::from(0));
    let base = u32::try_from(usize_or(&a[1], 10)?).unwrap_or(10);
    match value.kind() {
        ValueKind::Bool => Ok(Value::from(value.is_true() as i64)),
        ValueKind::Number if value.is_integer() => Ok(value.clone()),
        ValueKind::Number => truncate_float(f64::try_from(value.clone())?),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            if let Some(int) = parse_int(text, base) {
                return Ok(Value::from(int));
            }
            match parse_float(text) {
                Some(f) if f.is_finite() => truncate_float(f),
                Some(_) => Err(invalid_operation("OverflowError: cannot convert float infinity to integer")),
                None => Ok(default),
            }
        }
        _ => Ok(default),
    }
}

fn truncate_float(f: f64) -> Result<Value, Error> {
    if !f.is_finite() {
        return Err(invalid_operation("cannot convert float infinity or NaN to integer"));
    }
    let t = f.trunc();
    if t.abs() < 1e38 {
        Ok(Value::from(t as i128))
    } else {
        Err(invalid_operation("integer too large"))
    }
}

/// jinja2's `float(value, default=0.0)`.
fn float(value: &Value, args: Args) -> Result<Value, Error> {
    require_defined(value)?;
    let a = params(args, &["default"], 0)?;
    let default = a[0].clone().unwrap_or(Value::from(0.0));
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(value.is_true() as u8 as f64),
        ValueKind::Number => Value::from(f64::try_from(value.clone())?),
        ValueKind::String => parse_float(value.as_str().unwrap_or_default()).map_or(default, Value::from),
        _ => default,
    })
}

/// jinja2's `round(value, precision=0, method='common')`: Python's `round` (ties to even on the
/// exact binary value), or floor / ceil of the scaled value.
fn round(value: &Value, args: Args) -> Result<Value, Error> {
    let a = params(args, &["precision", "method"], 0)?;
    let precision = present(&a[0]).and_then(Value::as_i64).unwrap_or(0).clamp(-400, 400) as i32;
    let method = str_arg(&a[1]).unwrap_or_else(|| "common".into());
    let method = method.as_str();
    if !matches!(method, "common" | "floor" | "ceil") {
        return Err(invalid_operation("method must be common, ceil or floor"));
    }
    if value.kind() != ValueKind::Number && value.kind() != ValueKind::Bool {
        return Err(invalid_operation(format!(
            "type {} doesn't define __round__ method",
            crate::jinja::value::types::type_name(value)
        )));
    }
    let is_int = value.is_integer() || value.kind() == ValueKind::Bool;
    let x = if value.kind() == ValueKind::Bool { value.is_true() as u8 as f64 } else { f64::try_from(value.clone())? };
    if method == "common" {
        if is_int && precision >= 0 {
            return Ok(if value.kind() == ValueKind::Bool {
                Value::from(value.is_true() as i64)
            } else {
                value.clone()
            });
        }
        let rounded = if !x.is_finite() {
            x
        } else if precision >= 0 {
            format!("{:.*}", precision.min(340) as usize, x).parse().unwrap_or(x)
        } else {
            let scale = 10f64.powi(-precision);
            (x / scale).round_ties_even() * scale
        };
        return Ok(if is_int { Value::from(rounded as i128) } else { Value::from(rounded) });
    }
    let scale = 10f64.powi(precision);
    let scaled = x * scale;
    let r = if method == "floor" { scaled.floor() } else { scaled.ceil() };
    Ok(Value::from(r / scale))
}

/// An attribute path as jinja2's `make_attrgetter` reads it: `a.b.0`, item lookups first.
fn get_path(item: &Value, path: &str) -> Result<Value, Error> {
    let mut value = item.clone();
    for part in path.split('.') {
        let key = part.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(part));
        value = value.get_item(&key).unwrap_or_default();
    }
    Ok(value)
}

/// The sort key of one item: the attribute(s), lower-cased strings unless case-sensitive.
fn sort_key(item: &Value, attribute: Option<&str>, case_sensitive: bool) -> Result<Value, Error> {
    let lower = |v: Value| match v.as_str().filter(|_| v.kind() == ValueKind::String && !case_sensitive) {
        Some(s) => Value::from(s.to_lowercase()),
        None => v,
    };
    match attribute {
        None => Ok(lower(item.clone())),
        Some(spec) if spec.contains(',') => {
            let parts =
                spec.split(',').map(|p| get_path(item, p.trim()).map(lower)).collect::<Result<Vec<_>, Error>>()?;
            Ok(Value::from(parts))
        }
        Some(path) => get_path(item, path).map(lower),
    }
}

/// Python's stable `sorted(items, key=..., reverse=...)`, failing on unrelated types.
fn sorted_by_key(items: Vec<(Value, Value)>, reverse: bool) -> Result<Vec<Value>, Error> {
    let mut items = items;
    let mut failed = None;
    items.sort_by(|a, b| {
        let (x, y) = if reverse { (&b.0, &a.0) } else { (&a.0, &b.0) };
        py_cmp(x, y).unwrap_or_else(|err| {
            failed.get_or_insert(err);
            Ordering::Equal
        })
    });
    match failed {
        Some(err) => Err(err),
        None => Ok(items.into_iter().map(|(_, item)| item).collect()),
    }
}

fn sort(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let _ = state;
    let reverse = kwargs.get::<Option<bool>>("reverse")?.unwrap_or(false);
    let case_sensitive = kwargs.get::<Option<bool>>("case_sensitive")?.unwrap_or(false);
    let attribute = kwargs.get::<Option<&str>>("attribute")?;
    kwargs.assert_all_used()?;
    let items = py_iter(value)?
        .into_iter()
        .map(|item| Ok((sort_key(&item, attribute, case_sensitive)?, item)))
        .collect::<Result<Vec<_>, Error>>()?;
    sorted_by_key(items, reverse).map(Value::from)
}

/// `min` / `max`: the first extreme item, undefined for an empty sequence.
fn extreme(_state: &State, value: &Value, kwargs: Kwargs, wanted: Ordering) -> Result<Value, Error> {
    let case_sensitive = kwargs.get::<Option<bool>>("case_sensitive")?.unwrap_or(false);
    let attribute = kwargs.get::<Option<&str>>("attribute")?;
    kwargs.assert_all_used()?;
    let mut best: Option<(Value, Value)> = None;
    for item in py_iter(value)? {
        let key = sort_key(&item, attribute, case_sensitive)?;
        let better = match &best {
            None => true,
            Some((best_key, _)) => py_cmp(&key, best_key)? == wanted,
        };
        if better {
            best = Some((key, item));
        }
    }
    Ok(best.map(|(_, item)| item).unwrap_or(Value::UNDEFINED))
}

/// `dictsort(case_sensitive=False, by='key', reverse=False)`: `(key, value)` tuples.
fn dictsort(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let case_sensitive = kwargs.get::<Option<bool>>("case_sensitive")?.unwrap_or(false);
    let by = kwargs.get::<Option<&str>>("by")?.unwrap_or("key");
    let reverse = kwargs.get::<Option<bool>>("reverse")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let position = match by {
        "key" => 0,
        "value" => 1,
        _ => return Err(invalid_operation("You can only sort by either \"key\" or \"value\"")),
    };
    require_defined(value)?;
    if value.kind() != ValueKind::Map {
        return Err(invalid_operation(format!(
            "AttributeError: '{}' object has no attribute 'items'",
            crate::jinja::value::types::type_name(value)
        )));
    }
    let mut items = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        let sort_on = if position == 0 { key.clone() } else { item.clone() };
        let pair = Value::from(minijinja::value::Tuple::from([key, item]));
        items.push((sort_key(&sort_on, None, case_sensitive)?, pair));
    }
    sorted_by_key(items, reverse).map(Value::from)
}

/// jinja2's `groupby(attribute, default=None, case_sensitive=False)`: `(grouper, list)` tuples
/// sorted by the key; without case sensitivity the grouper is the first item's original value.
fn groupby(value: &Value, args: Args) -> Result<Value, Error> {
    let a = params(args, &["attribute", "default", "case_sensitive"], 1)?;
    let attribute = str_arg(&a[0]).unwrap_or_default();
    let default = present(&a[1]).cloned();
    let case_sensitive = bool_or(&a[2], false);
    let key_of = |item: &Value, fold: bool| -> Result<Value, Error> {
        let mut key = sort_key(item, Some(&attribute), !fold)?;
        if key.is_undefined() {
            if let Some(default) = &default {
                key = default.clone();
            }
        }
        Ok(key)
    };
    let items = py_iter(value)?
        .into_iter()
        .map(|item| Ok((key_of(&item, !case_sensitive)?, item)))
        .collect::<Result<Vec<_>, Error>>()?;
    let keyed = items.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let order =
        sorted_by_key(items.iter().cloned().enumerate().map(|(i, (k, _))| (k, Value::from(i))).collect(), false)?;
    let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
    for index in order {
        let i = index.as_usize().unwrap_or(0);
        let item = items[i].1.clone();
        match groups.last_mut() {
            Some((key, members)) if *key == keyed[i] => members.push(item),
            _ => groups.push((keyed[i].clone(), vec![item])),
        }
    }
    let out = groups
        .into_iter()
        .map(|(key, members)| {
            let grouper = if case_sensitive { key } else { key_of(&members[0], false)? };
            Ok(Value::from_object(crate::jinja::value::objects::GroupTuple { grouper, list: Value::from(members) }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Value::from(out))
}

/// jinja2's `attr(obj, name)`: a real attribute only (methods of plain data), never a dict item.
fn attr(value: &Value, name: &str) -> Result<Value, Error> {
    require_defined(value)?;
    let owner = match value.kind() {
        ValueKind::String => "str",
        ValueKind::Map if !is_namespace(value) => "dict",
        ValueKind::Seq => "list",
        ValueKind::Map | ValueKind::Plain => return Ok(value.get_attr(name).unwrap_or_default()),
        _ => return Ok(Value::UNDEFINED),
    };
    if crate::jinja::operators::is_method_name(name) {
        Ok(Value::from_object(PyMethod::new(value, owner, name)))
    } else {
        Ok(Value::UNDEFINED)
    }
}

/// jinja2's `indent(width=4, first=False, blank=False)`; `width` may be the indent text.
fn indent(value: &Value, args: Args) -> Result<String, Error> {
    require_defined(value)?;
    let a = params(args, &["width", "first", "blank"], 0)?;
    let (first, blank) = (bool_or(&a[1], false), bool_or(&a[2], false));
    let indention = match present(&a[0]).cloned() {
        Some(w) if w.kind() == ValueKind::String => w.as_str().unwrap_or_default().to_string(),
        Some(w) => " ".repeat(check_width(usize::try_from(w).unwrap_or(0))?),
        None => "    ".to_string(),
    };
    let text = py_str(value) + "\n";
    // Checked before splitting (`text` ends with a break, so it has one line per break, `\r\n`
    // counting once): splitting a text of millions of lines took seconds and a vector of slices
    // as large as the text.
    let breaks =
        text.chars().filter(|&c| crate::jinja::methods::is_line_break(c)).count() - text.matches("\r\n").count();
    crate::jinja::scope::check_string(text.len().saturating_add(indention.len().saturating_mul(breaks + 1)), "indent")?;
    let lines: Vec<&str> = crate::jinja::methods::split_lines(&text, false);
    let mut out = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut iter = lines.iter();
        let mut out = iter.next().map(|l| l.to_string()).unwrap_or_default();
        for line in iter {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&indention);
            }
            out.push_str(line);
        }
        out
    };
    if first {
        out.insert_str(0, &indention);
    }
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// jinja2's `truncate(length=255, killwords=False, end='...', leeway=5)`.
fn truncate(value: &Value, args: Args) -> Result<String, Error> {
    let a = params(args, &["length", "killwords", "end", "leeway"], 0)?;
    let text = py_str(value);
    let length = usize_or(&a[0], 255)?;
    let end = str_arg(&a[2]).unwrap_or_else(|| "...".into());
    let end = end.as_str();
    let leeway = usize_or(&a[3], 5)?;
    Ok(truncate_text(text, length, bool_or(&a[1], false), end, leeway))
}

fn truncate_text(text: String, length: usize, killwords: bool, end: &str, leeway: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= length + leeway {
        return text;
    }
    let keep = length.saturating_sub(end.chars().count());
    let head: String = chars[..keep.min(chars.len())].iter().collect();
    if killwords {
        return head + end;
    }
    match head.rsplit_once(' ') {
        Some((before, _)) => before.to_string() + end,
        None => head + end,
    }
}

/// markupsafe's escaping: `& < > ' "`.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// `escape` leaves markup (safe strings) alone.
fn escape(value: &Value) -> Value {
    if value.is_safe() {
        return value.clone();
    }
    Value::from_safe_string(html_escape(&py_str(value)))
}

fn filesizeformat(value: &Value, args: Args) -> Result<String, Error> {
    let a = params(args, &["binary"], 0)?;
    let binary = bool_or(&a[0], false);
    let bytes = match value.kind() {
        ValueKind::Number | ValueKind::Bool => f64::try_from(value.clone()).unwrap_or(value.is_true() as u8 as f64),
        ValueKind::String => parse_float(value.as_str().unwrap_or_default()).ok_or_else(|| {
            invalid_operation(format!("could not convert string to float: {:?}", value.as_str().unwrap_or_default()))
        })?,
        _ => return Err(invalid_operation("float() argument must be a string or a real number")),
    };
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let prefixes = if binary {
        ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    } else {
        ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    };
    if bytes == 1.0 {
        return Ok("1 Byte".into());
    }
    if bytes < base {
        return Ok(format!("{} Bytes", bytes as i128));
    }
    let mut unit = base;
    for (i, prefix) in prefixes.iter().enumerate() {
        unit = base.powi(i as i32 + 2);
        if bytes < unit {
            return Ok(format!("{:.1} {prefix}", base * bytes / unit));
        }
    }
    Ok(format!("{:.1} {}", base * bytes / unit, prefixes[prefixes.len() - 1]))
}

fn xmlattr(value: &Value, args: Args) -> Result<Value, Error> {
    let autospace = bool_or(&params(args, &["autospace"], 0)?[0], true);
    if value.kind() != ValueKind::Map {
        return Err(invalid_operation(format!(
            "AttributeError: '{}' object has no attribute 'items'",
            crate::jinja::value::types::type_name(value)
        )));
    }
    let mut parts = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        if item.is_none() || item.is_undefined() {
            continue;
        }
        let name = py_str(&key);
        if name.is_empty() || name.chars().any(|c| is_python_space(c) || matches!(c, '/' | '>' | '=')) {
            return Err(invalid_operation(format!("Invalid character in attribute name: {name:?}")));
        }
        parts.push(format!("{}=\"{}\"", html_escape(&name), html_escape(&py_str(&item))));
    }
    let mut out = parts.join(" ");
    if autospace && !out.is_empty() {
        out.insert(0, ' ');
    }
    Ok(Value::from_safe_string(out))
}

/// `urllib.parse.quote` with jinja2's safe characters.
fn url_quote(text: &str, for_query: bool) -> String {
    let safe: &[u8] = if for_query { b"" } else { b"/" };
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(byte as char),
            b' ' if for_query => out.push('+'),
            b if safe.contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn urlencode(value: &Value) -> Result<String, Error> {
    match value.kind() {
        ValueKind::String => Ok(url_quote(value.as_str().unwrap_or_default(), false)),
        ValueKind::Map => {
            let mut parts = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                parts.push(format!("{}={}", url_quote(&py_str(&key), true), url_quote(&py_str(&item), true)));
            }
            Ok(parts.join("&"))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for pair in value.try_iter()? {
                let (key, item): (Value, Value) = from_args(&pair.try_iter()?.collect::<Vec<_>>())?;
                parts.push(format!("{}={}", url_quote(&py_str(&key), true), url_quote(&py_str(&item), true)));
            }
            Ok(parts.join("&"))
        }
        _ => Ok(url_quote(&py_str(value), false)),
    }
}

#[cfg(test)]
mod tests {
    use crate::jinja::environment::test_support::{fails, render};

    /// Each expected text is what jinja2 3.1.6 renders (its generators print their address; here
    /// it is a fixed one).
    #[test]
    fn map_and_select_return_generators_like_jinja2() {
        let xs = "{% set xs = ['a', 'b'] %}{% set ms = [{'a': 1}, {'a': 0}] %}";
        let cases = [
            ("{{ xs|map('upper') }}", "<generator object sync_do_map at 0x7f0000000000>"),
            ("{{ xs|select }}|{{ ms|rejectattr('a') }}", "<generator object select_or_reject at 0x7f0000000000>|<generator object select_or_reject at 0x7f0000000000>"),
            ("{% if xs|select('none') %}T{% else %}F{% endif %}", "T"),
            ("{{ (xs|map('upper'))[0] }}|", "|"),
            ("{{ xs|map('upper')|first }}", "A"),
            ("{{ xs|map('upper')|list|length }}", "2"),
            ("{% set g = xs|map('upper') %}{{ g|join }}/{{ g|join }}", "AB/"),
            ("{{ xs|map('upper') is sequence }}{{ xs|map('upper') is iterable }}", "FalseTrue"),
            ("{{ 'A' in xs|map('upper') }}", "True"),
            ("{% for x in xs|map('upper') %}{{ loop.length }}{{ loop.last }}{% endfor %}", "2False2True"),
            ("{{ xs|map('upper')|reverse|list }}", "['B', 'A']"),
            ("{{ [xs|map('upper')] }}", "[<generator object sync_do_map at 0x7f0000000000>]"),
            ("{{ xs|map('upper')|sort }}", "['A', 'B']"),
            ("{{ xs|map('upper')|unique|list }}", "['A', 'B']"),
            ("{{ xs|map('upper')|batch(1)|list }}", "[['A'], ['B']]"),
            ("{{ ms|selectattr('a')|map(attribute='a')|list }}", "[1]"),
            ("{{ xs|map('upper')|list|tojson }}", "[\"A\", \"B\"]"),
        ];
        for (source, expected) in cases {
            assert_eq!(render(&format!("{xs}{source}")), expected, "{source}");
        }
        for source in [
            "{{ xs|map('upper')|last }}",
            "{{ xs|map('upper')|length }}",
            "{{ xs|map('upper')|count }}",
            "{{ xs|map('upper')|tojson }}",
        ] {
            assert!(fails(&format!("{xs}{source}")), "{source} renders, jinja2 raises a TypeError");
        }
    }

    #[test]
    fn numbers_parse_and_round_like_python() {
        assert_eq!(render("{{ 'x'|int }}{{ '3.7'|int }}{{ ' 42 '|int }}{{ '0x1A'|int(0, 16) }}{{ '0b11'|int(0, 0) }}{{ 3.7|int }}{{ true|int }}{{ none|int(5) }}"), "0342263315");
        assert_eq!(render("{{ 3|float }}{{ '3.5'|float }}{{ 'x'|float }}{{ '1e3'|float }}"), "3.03.50.01000.0");
        assert_eq!(render("{{ 2.5|round }}{{ 3.5|round }}{{ 2.567|round(2) }}{{ 2.5|round(0, 'floor') }}{{ 5|round }}{{ -2.5|round }}{{ 0.125|round(2) }}"), "2.04.02.572.05-2.00.12");
    }

    #[test]
    fn text_filters_use_python_str() {
        assert_eq!(render("{{ 1e-05|upper }}|{{ [1.0, none, true]|join(',') }}|{{ 5|replace('5', '6') }}|{{ 'aaa'|replace('a', 'b', 2) }}"), "1E-05|1.0,None,True|6|bba");
        assert_eq!(
            render("{{ 'a\nb'|indent(2) }}|{{ 'a\n\nb'|indent(2, blank=true) }}|{{ 'a\nb'|indent('> ', true) }}"),
            "a\n  b|a\n  \n  b|> a\n> b"
        );
        assert_eq!(
            render("{{ \"they're here\"|title }}|{{ 'a b'|wordcount }}|{{ 'abc'|center(7) }}|"),
            "They're Here|2|  abc  |"
        );
        assert_eq!(
            render("{{ 'abcdefghij klmnop qrstuvwxyz'|truncate(12) }}|{{ 'abc'|truncate(5) }}"),
            "abcdefghi...|abc"
        );
        assert_eq!(render("{{ '<a&\\'\">'|e }}{{ '<'|e|e }}{{ 1234567|filesizeformat }}{{ {'a': 1, 'b': none}|xmlattr }}{{ 'a b&c'|urlencode }}"), "&lt;a&amp;&#39;&#34;&gt;&lt;1.2 MB a=\"1\"a%20b%26c");
        assert_eq!(render("{{ '%s-%s'|format(1, 2) }}{{ '%(a)s'|format(a=1e-05) }}"), "1-21e-05");
    }

    #[test]
    fn ordering_filters_refuse_unrelated_types() {
        assert_eq!(render("{{ ['b', 'A', 'a']|sort }}{{ [3, 1]|sort(reverse=true) }}{{ [{'a': 2}, {'a': 1}]|sort(attribute='a') }}"), "['A', 'a', 'b'][3, 1][{'a': 1}, {'a': 2}]");
        assert_eq!(
            render("{{ {'b': 1, 'a': 2}|dictsort }}{{ ['b', 'A']|max }}{{ []|min }}|"),
            "[('a', 2), ('b', 1)]b|"
        );
        assert!(fails("{{ [1, 'a']|sort }}"));
        assert!(fails("{{ [1, 'a']|max }}"));
    }

    #[test]
    fn undefined_and_none_fail_where_python_fails() {
        for source in [
            "{{ u|int }}",
            "{{ u|float }}",
            "{{ u|dictsort }}",
            "{{ u|indent }}",
            "{{ u|attr('x') }}",
            "{{ none|unique|list }}",
            "{{ none|sum }}",
            "{{ none|max }}",
            "{{ none|batch(2)|list }}",
            "{{ none|slice(2)|list }}",
            "{{ none|join(',') }}",
            "{{ none|sort }}",
            "{{ none|groupby('a') }}",
            "{{ none|dictsort }}",
            "{{ none|list }}",
            "{{ [{}]|unique|list }}",
            "{{ [[1]]|unique|list }}",
        ] {
            assert!(fails(source), "{source}");
        }
        assert_eq!(
            render("{{ u|sum }}{{ u|join(',') }}{{ u|sort }}{{ u|unique|list }}{{ u|max }}|{{ u|batch(2)|list }}"),
            "0[][]|[]"
        );
    }

    #[test]
    fn attr_reads_attributes_not_items() {
        assert_eq!(render("{{ {'a': 1}|attr('a') }}|{{ {'a': 1}|attr('items') is callable }}"), "|True");
    }
}
