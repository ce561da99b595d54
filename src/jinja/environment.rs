//! A minijinja `Environment` that behaves like transformers' `ImmutableSandboxedEnvironment`:
//! trim/lstrip blocks, loop controls, Python printing of values, Python string and dict methods,
//! jinja2's filters, tests and globals, transformers' `tojson`, `namespace`, `dict` and
//! `strftime_now`, and the operator functions `source::semantics` calls. The generation tag and
//! `raise_exception` are registered by `render.rs`, whose per-render state (`scope.rs`) they touch.

use std::borrow::Cow;

use chrono::format::{Item, StrftimeItems};
use chrono::{NaiveDateTime, TimeZone};
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::jinja::value::json::{json_dumps, JsonOptions};
use crate::jinja::value::objects::{Cycler, DictGlobal, DictView, Generator, Joiner, PyMethod, PyRange};
use crate::jinja::value::print::{py_str, write_str};
use crate::jinja::value::types::is_namespace;

/// The clock `strftime_now` reads: the local time, or a pinned time for reproducible output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    Local,
    Pinned(NaiveDateTime),
}

/// jinja2's delimiters with transformers' `trim_blocks` and `lstrip_blocks`.
pub fn hf_syntax() -> minijinja::syntax::SyntaxConfig {
    minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().unwrap_or_default()
}

/// Builds the environment every chat template is compiled in.
pub fn hf_environment(clock: Clock) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(hf_syntax());
    // The defaults; a template's own limits are set when it is compiled (`render.rs`).
    let limits = crate::limits::Limits::default();
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion);
    env.set_unknown_method_callback(crate::jinja::methods::call_method);
    env.set_formatter(|out, _state, value| {
        // Strings, nearly everything a chat template prints, are written as they are.
        let printed = match (value.kind(), value.as_str()) {
            (ValueKind::String, Some(text)) => Cow::Borrowed(text),
            _ => {
                let mut text = String::new();
                write_str(value, &mut text);
                Cow::Owned(text)
            }
        };
        if crate::jinja::scope::any_reached() {
            // Printing stopped at a limit; end the render here (it fails with that limit).
            return Err(Error::new(ErrorKind::InvalidOperation, "a limit was reached"));
        }
        out.write_str(&printed).map_err(|_| Error::new(ErrorKind::WriteFailure, "failed to write output"))
    });
    crate::jinja::filters::register(&mut env);
    crate::jinja::operators::register(&mut env);
    env.add_filter("tojson", tojson);
    env.add_filter("string", py_str);
    env.add_filter("length", python_len);
    env.add_filter("count", python_len);
    env.add_test("iterable", is_iterable);
    env.add_test("sequence", is_sequence);
    env.add_test("mapping", |value: &Value| value.kind() == ValueKind::Map && !is_namespace(value));
    env.add_test("callable", is_callable);
    env.remove_global("debug");
    env.add_global("dict", Value::from_object(DictGlobal));
    env.add_function("namespace", |positional: Rest<Value>, kwargs: Kwargs| {
        crate::jinja::value::objects::namespace(&positional, kwargs)
    });
    env.add_function("range", |args: Rest<Value>| PyRange::new(&args).map(Value::from_object));
    env.add_function("lipsum", |_args: Rest<Value>| -> Result<Value, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, "lipsum() is not supported by fastmask (its text is random)"))
    });
    env.add_function("joiner", |sep: Option<&str>| Value::from_object(Joiner::new(sep)));
    env.add_function("cycler", |items: Rest<Value>| Cycler::new(items.0).map(Value::from_object));
    env.add_function("strftime_now", move |format: &str| strftime(clock, format));
    env
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)` — unlike jinja2's own filter, it does not HTML-escape `<>&'`.
/// Its parameters may also be given by position: `tojson(ensure_ascii, indent, separators, sort_keys)`.
fn tojson(_state: &State, value: &Value, positional: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if positional.len() > NAMES.len() {
        return Err(Error::new(ErrorKind::TooManyArguments, "tojson takes at most 4 arguments"));
    }
    let mut params: Vec<Option<Value>> = positional.0.into_iter().map(Some).collect();
    for name in &NAMES[params.len()..] {
        params.push(kwargs.get::<Option<Value>>(name)?);
    }
    kwargs.assert_all_used()?;
    let present = |v: &Option<Value>| v.clone().filter(|v| !v.is_none());
    let indent = match present(&params[1]) {
        None => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().to_string()),
        Some(v) => Some(" ".repeat(crate::jinja::value::format::check_width(i64::try_from(v)?.max(0) as usize)?)),
    };
    let mut options = JsonOptions::new(indent);
    options.ensure_ascii = params[0].as_ref().is_some_and(Value::is_true);
    if let Some(separators) = present(&params[2]) {
        let pair: Vec<Value> = separators.try_iter()?.collect();
        let [item, key] = <[Value; 2]>::try_from(pair)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "separators must be a pair of strings"))?;
        options.item_separator = py_str(&item);
        options.key_separator = py_str(&key);
    }
    options.sort_keys = params[3].as_ref().is_some_and(Value::is_true);
    // Not marked safe: nothing is escaped anyway, since chat templates render without autoescape.
    Ok(Value::from(json_dumps(value, &options)?))
}

/// Python's `len()`, with jinja2's `len(Undefined) == 0`.
fn python_len(value: &Value) -> Result<usize, Error> {
    match value.kind() {
        ValueKind::Undefined => Ok(0),
        ValueKind::String => Ok(value.as_str().unwrap_or_default().chars().count()),
        _ if value.downcast_object_ref::<Generator>().is_some() => {
            Err(Error::new(ErrorKind::InvalidOperation, "object of type 'generator' has no len()"))
        }
        _ => value.len().ok_or_else(|| {
            Error::new(ErrorKind::InvalidOperation, format!("object of type {} has no len()", value.kind()))
        }),
    }
}

/// jinja2's `iterable` test is `iter(value)` succeeding: not for None, numbers, booleans, functions
/// or namespaces; yes for Undefined, which iterates as empty.
fn is_iterable(value: &Value) -> bool {
    match value.kind() {
        ValueKind::None | ValueKind::Number | ValueKind::Bool | ValueKind::Plain | ValueKind::Invalid => false,
        ValueKind::Map => !is_namespace(value),
        _ => true,
    }
}

/// jinja2's `sequence` test: has `len()` and `__getitem__` — strings, lists, tuples, dicts and
/// Undefined; not dict views or namespaces.
fn is_sequence(value: &Value) -> bool {
    let has_len_and_items = match value.kind() {
        ValueKind::String | ValueKind::Seq | ValueKind::Undefined => true,
        ValueKind::Map => !is_namespace(value),
        _ => false,
    };
    has_len_and_items && value.downcast_object_ref::<DictView>().is_none()
}

/// jinja2's `callable` test: functions, macros, methods, `loop`, `dict`, `namespace`, and
/// Undefined (which defines `__call__`, to fail when called).
fn is_callable(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Plain | ValueKind::Undefined) || value.downcast_object_ref::<PyMethod>().is_some()
}

/// `datetime.now().strftime(format)` as CPython on glibc computes it for a naive datetime: `%f` is
/// microseconds, `%z` and `%Z` are empty, the glibc flags `- _ 0 ^ #`, widths and `E`/`O` modifiers
/// apply, and unknown directives are kept as written.
fn strftime(clock: Clock, format: &str) -> Result<String, Error> {
    let now = match clock {
        Clock::Local => chrono::Local::now().naive_local(),
        Clock::Pinned(at) => at,
    };
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let directive = &rest[at..];
        let consumed = strftime_directive(now, directive, &mut out)?;
        rest = &directive[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Formats the directive at the start of `directive` (which starts with `%`); returns its length.
fn strftime_directive(now: NaiveDateTime, directive: &str, out: &mut String) -> Result<usize, Error> {
    let bytes = directive.as_bytes();
    let mut i = 1;
    let mut flag = None;
    while let Some(&b @ (b'-' | b'_' | b'0' | b'^' | b'#')) = bytes.get(i) {
        flag = Some(b);
        i += 1;
    }
    let width_start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let width: usize = directive[width_start..i].parse().unwrap_or(0);
    if matches!(bytes.get(i), Some(b'E' | b'O')) {
        i += 1;
    }
    let Some(conversion) = directive[i..].chars().next() else {
        out.push_str(directive);
        return Ok(directive.len());
    };
    let end = i + conversion.len_utf8();
    const CHRONO: &str = "aAbBcCdDeFgGhHIjklmMnpPrRStTuUVwWxXyY%";
    let text = match conversion {
        'f' => format!("{:06}", now.and_utc().timestamp_subsec_micros()),
        'z' | 'Z' => String::new(),
        's' => chrono::Local
            .from_local_datetime(&now)
            .earliest()
            .map_or_else(|| now.and_utc().timestamp(), |t| t.timestamp())
            .to_string(),
        c if CHRONO.contains(c) => {
            let padding = match flag {
                Some(b'-') => "-",
                Some(b'_') => "_",
                Some(b'0') => "0",
                _ => "",
            };
            let spec = format!("%{padding}{c}");
            let items: Vec<Item> = StrftimeItems::new(&spec).collect();
            if items.iter().any(|item| matches!(item, Item::Error)) {
                format!("{}", now.format(&format!("%{c}")))
            } else {
                format!("{}", now.format_with_items(items.into_iter()))
            }
        }
        _ => {
            out.push_str(&directive[..end]);
            return Ok(end);
        }
    };
    let text = match (flag, conversion) {
        (Some(b'^'), _) => text.to_uppercase(),
        (Some(b'#'), 'p' | 'P') => text.to_lowercase(),
        (Some(b'#'), _) => text.to_uppercase(),
        _ => text,
    };
    let len = text.chars().count();
    if width > len {
        let numeric = text.chars().all(|c| c.is_ascii_digit());
        let fill = if numeric && flag != Some(b'_') { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(fill, crate::jinja::value::format::check_width(width)? - len));
    }
    out.push_str(&text);
    Ok(end)
}

/// Rendering helpers shared by the unit tests of the filter and method modules.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{hf_environment, Clock};
    use minijinja::context;

    pub(crate) fn render(source: &str) -> String {
        hf_environment(Clock::Local).render_str(source, context! {}).unwrap()
    }

    pub(crate) fn fails(source: &str) -> bool {
        hf_environment(Clock::Local).render_str(source, context! {}).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(source: &str, ctx: Value) -> String {
        let env = hf_environment(Clock::Pinned(
            chrono::NaiveDate::from_ymd_opt(2024, 7, 5).unwrap().and_hms_opt(9, 3, 0).unwrap(),
        ));
        env.render_str(source, ctx).unwrap()
    }

    #[test]
    fn trims_blocks_like_transformers() {
        assert_eq!(render("  {% if true %}\nx\n  {% endif %}\ny", context! {}), "x\ny");
    }

    #[test]
    fn prints_python_values() {
        assert_eq!(render("{{ none }} {{ true }} {{ 1.0 }} {{ [1, 'a'] }}", context! {}), "None True 1.0 [1, 'a']");
    }

    #[test]
    fn tojson_does_not_escape_html() {
        assert_eq!(render("{{ x | tojson }}", context! { x => "<a & 'b'>" }), "\"<a & 'b'>\"");
        assert_eq!(render("{{ x | tojson(indent=2) }}", context! { x => vec![1] }), "[\n  1\n]");
        assert_eq!(
            render(
                "{{ x | tojson(true) }}{{ x | tojson(separators=(',', ':'), sort_keys=true) }}",
                context! { x => "é" }
            ),
            "\"\\u00e9\"\"é\""
        );
        assert_eq!(
            render("{{ {2: 'a', 10: 'b'} | tojson(sort_keys=true) }}", context! {}),
            "{\"2\": \"a\", \"10\": \"b\"}"
        );
        let env = hf_environment(Clock::Local);
        assert!(env.render_str("{{ {1: 'a', 'b': 2} | tojson(sort_keys=true) }}", context! {}).is_err());
    }

    #[test]
    fn strftime_now_uses_the_pinned_clock() {
        assert_eq!(render("{{ strftime_now('%d %b %Y') }}", context! {}), "05 Jul 2024");
    }

    #[test]
    fn strftime_directives_like_cpython_on_glibc() {
        let at = chrono::NaiveDate::from_ymd_opt(2024, 7, 5).unwrap().and_hms_micro_opt(9, 3, 7, 123456).unwrap();
        let f = |format: &str| strftime(Clock::Pinned(at), format).unwrap();
        assert_eq!(f("%Q|%-d|%^a|%Ey|%k|%P|%:z|%z|%Z|%f|%+"), "%Q|5|FRI|24| 9|am|%:z|||123456|%+");
        assert_eq!(
            f("%c|%x|%X|%D|%F|%T|%r|%j|%e|%%|a%"),
            "Fri Jul  5 09:03:07 2024|07/05/24|09:03:07|07/05/24|2024-07-05|09:03:07|09:03:07 AM|187| 5|%|a%"
        );
        assert_eq!(f("%_d|%0e|%#b|%3d|%Oy|%-I %p"), " 5|05|JUL|005|24|9 AM");
    }

    #[test]
    fn jinja2_tests_and_filters() {
        let ctx = context! { n => (), t => true, s => "ab", l => vec![1] };
        assert_eq!(
            render("{{ n is iterable }}{{ u is iterable }}{{ s is iterable }}{{ 1 is iterable }}", ctx.clone()),
            "FalseTrueTrueFalse"
        );
        assert_eq!(
            render("{{ s is sequence }}{{ n is sequence }}{{ u is sequence }}{{ {}.keys() is sequence }}", ctx.clone()),
            "TrueFalseTrueFalse"
        );
        assert_eq!(render("{{ namespace() is iterable }}{{ {} is mapping }}{{ range is callable }}{{ 'a' is callable }}{{ u is callable }}", ctx.clone()), "FalseTrueTrueFalseTrue");
        assert_eq!(render("{{ n | string }}{{ t | string }}{{ l | string }}", ctx.clone()), "NoneTrue[1]");
        assert_eq!(render("{{ u | length }}{{ 'é' | length }}{{ l | count }}", ctx), "011");
    }

    #[test]
    fn python_string_methods() {
        assert_eq!(render("{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}", context! {}), "a|['a', 'b']");
    }
}
