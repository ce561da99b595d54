//! A minijinja `Environment` that behaves like transformers' `ImmutableSandboxedEnvironment`:
//! trim/lstrip blocks, loop controls, Python printing of values, Python string and dict methods,
//! transformers' `tojson` and `strftime_now`. The generation tag and `raise_exception` are
//! registered by `template.rs`, which owns the per-render state they touch.

use chrono::format::{Item, StrftimeItems};
use chrono::NaiveDateTime;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::python_format::{json_dumps, write_str, JsonOptions};

/// Instructions one render may execute: far above what real templates need for very long chats,
/// low enough that a runaway loop stops within seconds.
pub const DEFAULT_FUEL: u64 = 200_000_000;

/// Nesting depth of macros, includes and loops (minijinja's default).
pub const RECURSION_LIMIT: usize = 500;

/// The clock `strftime_now` reads: the local time, or a pinned time for reproducible output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    Local,
    Pinned(NaiveDateTime),
}

/// Builds the environment every chat template is compiled in.
pub fn hf_environment(clock: Clock) -> Environment<'static> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .unwrap_or_default();
    env.set_syntax(syntax);
    env.set_fuel(Some(DEFAULT_FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_unknown_method_callback(crate::methods::call_method);
    env.set_formatter(|out, _state, value| {
        let mut text = String::new();
        write_str(value, &mut text);
        out.write_str(&text).map_err(|_| Error::new(ErrorKind::WriteFailure, "failed to write output"))
    });
    env.add_filter("tojson", tojson);
    env.add_filter("string", python_string);
    // jinja2's `trim` is `str(value).strip(chars)`.
    env.add_filter("trim", |value: &Value, chars: Option<&str>| {
        crate::methods::strip(&python_string(value), chars, true, true).to_string()
    });
    env.add_filter("length", python_len);
    env.add_filter("count", python_len);
    env.add_test("iterable", is_iterable);
    env.add_test("sequence", is_sequence);
    env.add_function("strftime_now", move |format: &str| strftime(clock, format));
    env
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)` — unlike jinja2's own filter, it does not HTML-escape `<>&'`.
fn tojson(_state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().to_string()),
        Some(v) => Some(" ".repeat(i64::try_from(v)?.max(0) as usize)),
    };
    let mut options = JsonOptions::new(indent);
    if let Some(ensure_ascii) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        options.ensure_ascii = ensure_ascii;
    }
    if let Some(separators) = kwargs.get::<Option<Vec<String>>>("separators")? {
        let [item, key] = <[String; 2]>::try_from(separators)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "separators must be a pair of strings"))?;
        options.item_separator = item;
        options.key_separator = key;
    }
    options.sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    // Not marked safe: nothing is escaped anyway, since chat templates render without autoescape.
    Ok(Value::from(json_dumps(value, &options)?))
}

/// jinja2's `string` filter is Python's `str()`: `None`, `True`, `1.0`, `['a']`.
fn python_string(value: &Value) -> String {
    let mut out = String::new();
    write_str(value, &mut out);
    out
}

/// Python's `len()`, with jinja2's `len(Undefined) == 0`.
fn python_len(value: &Value) -> Result<usize, Error> {
    match value.kind() {
        ValueKind::Undefined => Ok(0),
        ValueKind::String => Ok(value.as_str().unwrap_or_default().chars().count()),
        _ => value.len().ok_or_else(|| {
            Error::new(ErrorKind::InvalidOperation, format!("object of type {} has no len()", value.kind()))
        }),
    }
}

/// jinja2's `iterable` test is `iter(value)` succeeding: not for None, numbers or booleans; yes for
/// Undefined, which iterates as empty.
fn is_iterable(value: &Value) -> bool {
    !matches!(value.kind(), ValueKind::None | ValueKind::Number | ValueKind::Bool | ValueKind::Plain | ValueKind::Invalid)
}

/// jinja2's `sequence` test: has a length and item access — strings, lists and dicts.
fn is_sequence(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::String | ValueKind::Seq | ValueKind::Map)
}

/// `datetime.now().strftime(format)`, rejecting directives chrono does not know instead of panicking.
fn strftime(clock: Clock, format: &str) -> Result<String, Error> {
    let items: Vec<Item> = StrftimeItems::new(format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("invalid strftime format {format:?}")));
    }
    let now = match clock {
        Clock::Local => chrono::Local::now().naive_local(),
        Clock::Pinned(at) => at,
    };
    let mut out = String::new();
    std::fmt::Write::write_fmt(&mut out, format_args!("{}", now.format_with_items(items.into_iter())))
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("cannot format the date with {format:?}")))?;
    Ok(out)
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
    }

    #[test]
    fn strftime_now_uses_the_pinned_clock() {
        assert_eq!(render("{{ strftime_now('%d %b %Y') }}", context! {}), "05 Jul 2024");
    }

    #[test]
    fn jinja2_tests_and_filters() {
        let ctx = context! { n => (), t => true, s => "ab", l => vec![1] };
        assert_eq!(render("{{ n is iterable }}{{ u is iterable }}{{ s is iterable }}{{ 1 is iterable }}", ctx.clone()), "FalseTrueTrueFalse");
        assert_eq!(render("{{ s is sequence }}{{ n is sequence }}{{ u is sequence }}", ctx.clone()), "TrueFalseFalse");
        assert_eq!(render("{{ n | string }}{{ t | string }}{{ l | string }}", ctx.clone()), "NoneTrue[1]");
        assert_eq!(render("{{ u | length }}{{ 'é' | length }}{{ l | count }}", ctx), "011");
    }

    #[test]
    fn python_string_methods() {
        assert_eq!(render("{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}", context! {}), "a|['a', 'b']");
    }
}
