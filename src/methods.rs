//! Python `str` methods that templates call and `minijinja-contrib`'s pycompat lacks; anything
//! else is delegated to pycompat.

use minijinja::value::{from_args, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::python_format::is_python_space;

/// The environment's unknown-method callback.
pub fn call_method(state: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    if let Some(text) = value.as_str().filter(|_| value.kind() == ValueKind::String) {
        if let Some(result) = str_method(text, method, args) {
            return result;
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn str_method(text: &str, method: &str, args: &[Value]) -> Option<Result<Value, Error>> {
    let result = match method {
        "removeprefix" => from_args(args).map(|(prefix,): (&str,)| Value::from(text.strip_prefix(prefix).unwrap_or(text))),
        "removesuffix" => from_args(args).map(|(suffix,): (&str,)| Value::from(text.strip_suffix(suffix).unwrap_or(text))),
        "partition" => from_args(args).and_then(|(sep,): (&str,)| partition(text, sep, text.find(sep))),
        "rpartition" => from_args(args).and_then(|(sep,): (&str,)| partition(text, sep, text.rfind(sep))),
        "index" => from_args(args).and_then(|(needle,): (&str,)| char_index(text, text.find(needle))),
        "rindex" => from_args(args).and_then(|(needle,): (&str,)| char_index(text, text.rfind(needle))),
        "zfill" => from_args(args).map(|(width,): (usize,)| Value::from(zfill(text, width))),
        "rsplit" => from_args(args).and_then(|(sep, maxsplit): (Option<&str>, Option<i64>)| rsplit(text, sep, maxsplit)),
        "strip" => from_args(args).map(|(chars,): (Option<&str>,)| Value::from(strip(text, chars, true, true))),
        "lstrip" => from_args(args).map(|(chars,): (Option<&str>,)| Value::from(strip(text, chars, true, false))),
        "rstrip" => from_args(args).map(|(chars,): (Option<&str>,)| Value::from(strip(text, chars, false, true))),
        "split" => match from_args::<(Option<&str>, Option<i64>)>(args) {
            // With a separator pycompat already behaves like Python.
            Ok((Some(_), _)) => return None,
            Ok((None, maxsplit)) => Ok(split_whitespace(text, maxsplit)),
            Err(err) => Err(err),
        },
        "splitlines" => from_args(args).map(|(keepends,): (Option<bool>,)| splitlines(text, keepends.unwrap_or(false))),
        _ => return None,
    };
    Some(result)
}

/// `str.strip([chars])`: without `chars`, Python's whitespace (which includes U+001C..U+001F).
pub fn strip<'a>(text: &'a str, chars: Option<&str>, left: bool, right: bool) -> &'a str {
    let strip_char = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_python_space(c),
    };
    let text = if left { text.trim_start_matches(strip_char) } else { text };
    if right { text.trim_end_matches(strip_char) } else { text }
}

/// `str.split()` / `str.split(None, maxsplit)`: runs of whitespace split, leading whitespace goes,
/// and the tail left over at `maxsplit` keeps its trailing whitespace.
fn split_whitespace(text: &str, maxsplit: Option<i64>) -> Value {
    let limit = maxsplit.filter(|&n| n >= 0).map(|n| n as usize);
    let mut parts = Vec::new();
    let mut rest = text.trim_start_matches(is_python_space);
    while !rest.is_empty() {
        if limit.is_some_and(|n| parts.len() == n) {
            parts.push(Value::from(rest));
            break;
        }
        let end = rest.find(is_python_space).unwrap_or(rest.len());
        parts.push(Value::from(&rest[..end]));
        rest = rest[end..].trim_start_matches(is_python_space);
    }
    Value::from(parts)
}

/// `str.splitlines([keepends])` with Python's line boundaries.
fn splitlines(text: &str, keepends: bool) -> Value {
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if !is_break(c) {
            continue;
        }
        let mut end = at + c.len_utf8();
        if c == '\r' && matches!(chars.peek(), Some((_, '\n'))) {
            chars.next();
            end += 1;
        }
        lines.push(Value::from(&text[start..if keepends { end } else { at }]));
        start = end;
    }
    if start < text.len() {
        lines.push(Value::from(&text[start..]));
    }
    Value::from(lines)
}

fn partition(text: &str, sep: &str, found: Option<usize>) -> Result<Value, Error> {
    if sep.is_empty() {
        return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
    }
    let parts = match found {
        Some(at) => [&text[..at], sep, &text[at + sep.len()..]],
        None => [text, "", ""],
    };
    Ok(Value::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>()))
}

fn char_index(text: &str, found: Option<usize>) -> Result<Value, Error> {
    found
        .map(|byte| Value::from(text[..byte].chars().count()))
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "substring not found"))
}

/// Pads with zeros to `width` characters, after a leading sign, as Python does.
fn zfill(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let zeros = "0".repeat(width - len);
    match text.chars().next() {
        Some(sign @ ('+' | '-')) => format!("{sign}{zeros}{}", &text[1..]),
        _ => format!("{zeros}{text}"),
    }
}

fn rsplit(text: &str, sep: Option<&str>, maxsplit: Option<i64>) -> Result<Value, Error> {
    let limit = maxsplit.filter(|&n| n >= 0).map(|n| n as usize);
    let mut parts: Vec<&str> = match sep {
        Some("") => return Err(Error::new(ErrorKind::InvalidOperation, "empty separator")),
        Some(sep) => match limit {
            Some(n) => text.rsplitn(n + 1, sep).collect(),
            None => text.rsplit(sep).collect(),
        },
        None => rsplit_whitespace(text, limit),
    };
    parts.reverse();
    Ok(Value::from(parts.into_iter().map(Value::from).collect::<Vec<_>>()))
}

/// `str.rsplit()` without a separator: runs of whitespace split, trailing whitespace goes, and the
/// head left over at `maxsplit` is kept whole, leading whitespace included; right to left.
fn rsplit_whitespace(text: &str, limit: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        if limit.is_some_and(|n| parts.len() == n) {
            parts.push(rest);
            break;
        }
        match rest.rfind(char::is_whitespace) {
            Some(at) => {
                let ws_len = rest[at..].chars().next().map_or(1, char::len_utf8);
                parts.push(&rest[at + ws_len..]);
                rest = rest[..at].trim_end();
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use crate::environment::{hf_environment, Clock};
    use minijinja::context;

    fn render(source: &str) -> String {
        hf_environment(Clock::Local).render_str(source, context! {}).unwrap()
    }

    #[test]
    fn python_str_methods() {
        assert_eq!(render("{{ 'a.b.c'.rsplit('.', 1) }}"), "['a.b', 'c']");
        assert_eq!(render("{{ '  a b  c '.rsplit() }}"), "['a', 'b', 'c']");
        assert_eq!(render("{{ ' a b c'.rsplit(None, 1) }}"), "[' a b', 'c']");
        assert_eq!(render("{{ ' a  b '.rsplit(None, 0) }}"), "[' a  b']");
        assert_eq!(render("{{ 'prefix-x'.removeprefix('prefix-') }}{{ 'x.py'.removesuffix('.py') }}"), "xx");
        assert_eq!(render("{{ 'k=v=w'.partition('=') }}{{ 'k=v=w'.rpartition('=') }}"), "['k', '=', 'v=w']['k=v', '=', 'w']");
        assert_eq!(render("{{ 'abc'.partition('x') }}"), "['abc', '', '']");
        assert_eq!(render("{{ 'héllo'.index('l') }}{{ 'héllo'.rindex('l') }}"), "23");
        assert_eq!(render("{{ '-42'.zfill(5) }}{{ '7'.zfill(3) }}"), "-0042007");
        assert_eq!(render("{{ 'A b'.lower() }}"), "a b");
    }

    #[test]
    fn python_whitespace() {
        assert_eq!(render("{{ '\u{1c} a b \u{3000}\u{1f}'.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|"), "a b|a|a |");
        assert_eq!(render("{{ ' a\u{1d}b  c '.split() }}{{ 'a b  c '.split(None, 1) }}"), "['a', 'b', 'c']['a', 'b  c ']");
        assert_eq!(render("{{ 'a\r\nb\u{1e}c\n'.splitlines() }}{{ 'a\nb'.splitlines(true) }}"), "['a', 'b', 'c']['a\\n', 'b']");
        assert_eq!(render("{{ '\u{1c} x \u{85}' | trim }}|{{ 'xxa' | trim('x') }}"), "x|a");
    }

    #[test]
    fn index_of_a_missing_substring_fails() {
        assert!(hf_environment(Clock::Local).render_str("{{ 'abc'.index('z') }}", context! {}).is_err());
    }
}
