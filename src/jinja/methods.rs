//! Python methods of `str`, `dict`, `list` and `tuple`, as templates call them through jinja2's
//! immutable sandbox (methods that modify the object are refused).

use minijinja::value::{from_args, Kwargs, Rest, Tuple, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use unicode_general_category::{get_general_category, GeneralCategory as Category};

use crate::jinja::value::format::{check_width, str_format};
use crate::jinja::value::objects::{fromkeys, DictView, ViewKind};
use crate::jinja::value::print::{is_printable, is_python_space};
use crate::jinja::value::types::{invalid_operation, is_namespace, type_name};

/// The environment's unknown-method callback.
pub fn call_method(_state: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => str_method(value.as_str().unwrap_or_default(), method, args),
        ValueKind::Map if !is_namespace(value) => dict_method(value, method, args),
        ValueKind::Seq => seq_method(value, method, args),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// jinja2's sandbox refuses methods that modify their object.
fn unsafe_method(method: &str, type_name: &str) -> Error {
    invalid_operation(format!("SecurityError: access to attribute '{method}' of '{type_name}' object is unsafe."))
}

/// Binds positional-only arguments, as most methods of Python's builtin types take them.
fn positional(args: &[Value], names: &[&str], required: usize) -> Result<Vec<Option<Value>>, Error> {
    if args.last().is_some_and(Value::is_kwargs) {
        return Err(invalid_operation("TypeError: this method takes no keyword arguments"));
    }
    bind(args, names, required)
}

/// Binds positional and keyword arguments (a trailing kwargs value) to Python parameter names;
/// missing ones are `None`.
pub fn bind(args: &[Value], names: &[&str], required: usize) -> Result<Vec<Option<Value>>, Error> {
    if !args.last().is_some_and(Value::is_kwargs) {
        // The common case, without building a kwargs map.
        if args.len() > names.len() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!("takes at most {} arguments ({} given)", names.len(), args.len()),
            ));
        }
        if args.len() < required {
            return Err(Error::new(ErrorKind::MissingArgument, format!("takes at least {required} arguments")));
        }
        let mut bound: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        bound.resize(names.len(), None);
        return Ok(bound);
    }
    let (positional, kwargs): (Rest<Value>, Kwargs) = from_args(args)?;
    if positional.len() > names.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("takes at most {} arguments ({} given)", names.len(), positional.len()),
        ));
    }
    let mut bound: Vec<Option<Value>> = positional.0.into_iter().map(Some).collect();
    for name in &names[bound.len()..] {
        bound.push(kwargs.get::<Option<Value>>(name)?);
    }
    kwargs.assert_all_used()?;
    if bound.iter().take(required).any(Option::is_none) {
        return Err(Error::new(ErrorKind::MissingArgument, format!("takes at least {required} arguments")));
    }
    Ok(bound)
}

/// An optional `str` argument, where `None` means "not given".
fn opt_str<'a>(value: &'a Option<Value>, what: &str) -> Result<Option<&'a str>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) if v.kind() == ValueKind::String => Ok(v.as_str()),
        Some(v) => Err(invalid_operation(format!("{what} must be str or None, not {}", type_name(v)))),
    }
}

fn req_str<'a>(value: &'a Option<Value>, what: &str) -> Result<&'a str, Error> {
    match value {
        Some(v) if v.kind() == ValueKind::String => Ok(v.as_str().unwrap_or_default()),
        Some(v) => Err(invalid_operation(format!("{what} must be str, not {}", type_name(v)))),
        None => Err(Error::new(ErrorKind::MissingArgument, format!("missing {what}"))),
    }
}

fn opt_int(value: &Option<Value>, what: &str) -> Result<Option<i64>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) if v.kind() == ValueKind::Bool => Ok(Some(v.is_true() as i64)),
        Some(v) if v.is_integer() => {
            v.as_i64().map(Some).ok_or_else(|| invalid_operation(format!("{what} is too large")))
        }
        Some(v) => Err(invalid_operation(format!("'{}' object cannot be interpreted as an integer", type_name(v)))),
    }
}

// ---------------------------------------------------------------------------------------------
// str

fn str_method(text: &str, method: &str, args: &[Value]) -> Result<Value, Error> {
    let v = |s: String| Ok(Value::from(s));
    match method {
        "strip" | "lstrip" | "rstrip" => {
            let a = positional(args, &["chars"], 0)?;
            let chars = opt_str(&a[0], "strip arg")?;
            Ok(Value::from(strip(text, chars, method != "rstrip", method != "lstrip")))
        }
        "split" | "rsplit" => {
            let a = bind(args, &["sep", "maxsplit"], 0)?;
            let sep = opt_str(&a[0], "sep")?;
            let limit = opt_int(&a[1], "maxsplit")?.filter(|n| *n >= 0).map(|n| n as usize);
            let parts = if method == "split" { split(text, sep, limit)? } else { rsplit(text, sep, limit)? };
            Ok(Value::from(parts.into_iter().map(Value::from).collect::<Vec<_>>()))
        }
        "splitlines" => {
            let a = bind(args, &["keepends"], 0)?;
            Ok(splitlines(text, a[0].as_ref().is_some_and(Value::is_true)))
        }
        "startswith" | "endswith" => {
            let a = positional(args, &["prefix", "start", "end"], 1)?;
            affix_test(text, method, a[0].as_ref().unwrap_or(&Value::UNDEFINED), &a[1], &a[2]).map(Value::from)
        }
        "replace" => {
            let a = positional(args, &["old", "new", "count"], 2)?;
            let count = opt_int(&a[2], "count")?.filter(|n| *n >= 0).map(|n| n as usize);
            v(replace(text, req_str(&a[0], "old")?, req_str(&a[1], "new")?, count)?)
        }
        "find" | "rfind" | "index" | "rindex" | "count" => {
            let a = positional(args, &["sub", "start", "end"], 1)?;
            let sub = req_str(&a[0], "substring")?;
            let (start, end) = slice_bounds(text, &a[1], &a[2])?;
            search(text, method, sub, start, end)
        }
        "partition" | "rpartition" => {
            let a = positional(args, &["sep"], 1)?;
            partition(text, req_str(&a[0], "sep")?, method == "rpartition")
        }
        "removeprefix" => {
            v(text.strip_prefix(req_str(&positional(args, &["prefix"], 1)?[0], "prefix")?).unwrap_or(text).into())
        }
        "removesuffix" => {
            v(text.strip_suffix(req_str(&positional(args, &["suffix"], 1)?[0], "suffix")?).unwrap_or(text).into())
        }
        "zfill" => {
            let a = positional(args, &["width"], 1)?;
            v(zfill(text, check_width(opt_int(&a[0], "width")?.unwrap_or(0).max(0) as usize)?))
        }
        "center" | "ljust" | "rjust" => {
            let a = positional(args, &["width", "fillchar"], 1)?;
            let width = check_width(opt_int(&a[0], "width")?.unwrap_or(0).max(0) as usize)?;
            let fill = match &a[1] {
                None => ' ',
                Some(f) => {
                    let mut chars = req_str(&a[1], "fillchar")?.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => c,
                        _ => {
                            return Err(invalid_operation(format!(
                                "The fill character must be exactly one character long, got {f}"
                            )))
                        }
                    }
                }
            };
            v(justify(text, method, width, fill))
        }
        "expandtabs" => {
            let a = bind(args, &["tabsize"], 0)?;
            v(expandtabs(text, opt_int(&a[0], "tabsize")?.unwrap_or(8))?)
        }
        "upper" | "lower" | "casefold" | "swapcase" | "title" | "capitalize" => {
            positional(args, &[], 0)?;
            v(change_case(text, method))
        }
        "join" => {
            let a = positional(args, &["iterable"], 1)?;
            join(text, a[0].as_ref().unwrap_or(&Value::UNDEFINED)).map(Value::from)
        }
        "format" => {
            let (positional, kwargs): (Rest<Value>, Kwargs) = from_args(args)?;
            let named = kwargs
                .args()
                .map(|name| Ok((name.to_string(), kwargs.get::<Value>(name)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            kwargs.assert_all_used()?;
            v(str_format(text, &positional, &named)?)
        }
        "format_map" => {
            let a = positional(args, &["mapping"], 1)?;
            let mapping = a[0].clone().unwrap_or_default();
            let named = mapping
                .try_iter()?
                .map(|key| Ok((key.to_string(), mapping.get_item(&key)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            v(str_format(text, &[], &named)?)
        }
        _ => match predicate(text, method) {
            Some(result) => {
                positional(args, &[], 0)?;
                Ok(Value::from(result))
            }
            None => Err(Error::from(ErrorKind::UnknownMethod)),
        },
    }
}

/// `str.strip([chars])`: without `chars`, Python's whitespace (which includes U+001C..U+001F).
pub fn strip<'a>(text: &'a str, chars: Option<&str>, left: bool, right: bool) -> &'a str {
    let strip_char = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_python_space(c),
    };
    let text = if left { text.trim_start_matches(strip_char) } else { text };
    if right {
        text.trim_end_matches(strip_char)
    } else {
        text
    }
}

fn split<'a>(text: &'a str, sep: Option<&str>, limit: Option<usize>) -> Result<Vec<&'a str>, Error> {
    match sep {
        Some("") => Err(invalid_operation("ValueError: empty separator")),
        Some(sep) => Ok(match limit {
            Some(n) => text.splitn(n + 1, sep).collect(),
            None => text.split(sep).collect(),
        }),
        None => Ok(split_whitespace(text, limit)),
    }
}

/// `str.split()`: runs of whitespace split, leading whitespace goes, and the tail left over at
/// `maxsplit` keeps its trailing whitespace.
fn split_whitespace(text: &str, limit: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim_start_matches(is_python_space);
    while !rest.is_empty() {
        if limit.is_some_and(|n| parts.len() == n) {
            parts.push(rest);
            break;
        }
        let end = rest.find(is_python_space).unwrap_or(rest.len());
        parts.push(&rest[..end]);
        rest = rest[end..].trim_start_matches(is_python_space);
    }
    parts
}

fn rsplit<'a>(text: &'a str, sep: Option<&str>, limit: Option<usize>) -> Result<Vec<&'a str>, Error> {
    let mut parts: Vec<&str> = match sep {
        Some("") => return Err(invalid_operation("ValueError: empty separator")),
        Some(sep) => match limit {
            Some(n) => text.rsplitn(n + 1, sep).collect(),
            None => text.rsplit(sep).collect(),
        },
        None => rsplit_whitespace(text, limit),
    };
    parts.reverse();
    Ok(parts)
}

/// `str.rsplit()`: the mirror of [`split_whitespace`], right to left.
fn rsplit_whitespace(text: &str, limit: Option<usize>) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim_end_matches(is_python_space);
    while !rest.is_empty() {
        if limit.is_some_and(|n| parts.len() == n) {
            parts.push(rest);
            break;
        }
        let start =
            rest.rfind(is_python_space).map_or(0, |at| at + rest[at..].chars().next().map_or(1, char::len_utf8));
        parts.push(&rest[start..]);
        rest = rest[..start].trim_end_matches(is_python_space);
    }
    parts
}

/// `str.splitlines([keepends])` with Python's line boundaries.
fn splitlines(text: &str, keepends: bool) -> Value {
    Value::from(split_lines(text, keepends).into_iter().map(Value::from).collect::<Vec<_>>())
}

/// The lines of `str.splitlines([keepends])`.
/// The characters Python's `str.splitlines` breaks at (`\r\n` counts once).
pub fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

pub fn split_lines(text: &str, keepends: bool) -> Vec<&str> {
    let is_break = is_line_break;
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
        lines.push(&text[start..if keepends { end } else { at }]);
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Python's slice bounds `[start:end]` in characters, clamped, as byte offsets.
fn slice_bounds(text: &str, start: &Option<Value>, end: &Option<Value>) -> Result<(usize, usize), Error> {
    let len = text.chars().count() as i64;
    let clamp = |index: Option<i64>, default: i64| match index {
        None => default,
        Some(i) if i < 0 => (i + len).max(0),
        Some(i) => i.min(len),
    };
    let start_char = match opt_int(start, "start")? {
        Some(i) if i > len => return Ok((usize::MAX, usize::MAX)),
        other => clamp(other, 0),
    };
    let end_char = clamp(opt_int(end, "end")?, len);
    let byte = |char_index: i64| text.char_indices().nth(char_index as usize).map_or(text.len(), |(b, _)| b);
    Ok((byte(start_char), byte(end_char.max(start_char))))
}

/// `str.startswith` / `endswith` with a str or a tuple of str and optional slice bounds.
fn affix_test(
    text: &str,
    method: &str,
    affix: &Value,
    start: &Option<Value>,
    end: &Option<Value>,
) -> Result<bool, Error> {
    let (start, end) = slice_bounds(text, start, end)?;
    if start == usize::MAX {
        return Ok(false);
    }
    let window = &text[start..end];
    let test = |affix: &str| if method == "startswith" { window.starts_with(affix) } else { window.ends_with(affix) };
    match affix.kind() {
        ValueKind::String => Ok(test(affix.as_str().unwrap_or_default())),
        ValueKind::Seq if affix.downcast_object_ref::<Tuple>().is_some() => {
            for item in affix.try_iter()? {
                match item.as_str().filter(|_| item.kind() == ValueKind::String) {
                    Some(s) if test(s) => return Ok(true),
                    Some(_) => {}
                    None => {
                        return Err(invalid_operation(format!(
                            "tuple for {method} must only contain str, not {}",
                            type_name(&item)
                        )))
                    }
                }
            }
            Ok(false)
        }
        _ => Err(invalid_operation(format!(
            "{method} first arg must be str or a tuple of str, not {}",
            type_name(affix)
        ))),
    }
}

/// `str.replace(old, new[, count])`, including Python's handling of an empty `old`.
pub fn replace(text: &str, old: &str, new: &str, count: Option<usize>) -> Result<String, Error> {
    let limit = count.unwrap_or(usize::MAX);
    if new.len() > old.len() {
        let found = if old.is_empty() { text.chars().count() + 1 } else { text.matches(old).count() };
        let grown = found.min(limit).saturating_mul(new.len() - old.len());
        crate::jinja::scope::check_string(text.len().saturating_add(grown), "replace")?;
    }
    if old.is_empty() {
        let mut out = String::new();
        let mut done = 0;
        for c in text.chars() {
            if done < limit {
                out.push_str(new);
                done += 1;
            }
            out.push(c);
        }
        if done < limit {
            out.push_str(new);
        }
        return Ok(out);
    }
    Ok(match count {
        None => text.replace(old, new),
        Some(n) => text.replacen(old, new, n),
    })
}

fn char_index(text: &str, byte: usize) -> Value {
    Value::from(text[..byte].chars().count())
}

fn search(text: &str, method: &str, sub: &str, start: usize, end: usize) -> Result<Value, Error> {
    if start == usize::MAX {
        return match method {
            "count" => Ok(Value::from(0)),
            "find" | "rfind" => Ok(Value::from(-1)),
            _ => Err(invalid_operation("ValueError: substring not found")),
        };
    }
    let window = &text[start..end];
    let found = match method {
        "count" => {
            let n = if sub.is_empty() { window.chars().count() + 1 } else { window.matches(sub).count() };
            return Ok(Value::from(n));
        }
        "find" | "index" => window.find(sub),
        _ => window.rfind(sub),
    };
    match (found, method) {
        (Some(at), _) => Ok(char_index(text, start + at)),
        (None, "find" | "rfind") => Ok(Value::from(-1)),
        (None, _) => Err(invalid_operation("ValueError: substring not found")),
    }
}

fn partition(text: &str, sep: &str, from_right: bool) -> Result<Value, Error> {
    if sep.is_empty() {
        return Err(invalid_operation("ValueError: empty separator"));
    }
    let found = if from_right { text.rfind(sep) } else { text.find(sep) };
    let parts = match (found, from_right) {
        (Some(at), _) => [&text[..at], sep, &text[at + sep.len()..]],
        (None, false) => [text, "", ""],
        (None, true) => ["", "", text],
    };
    Ok(Value::from(Tuple::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())))
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

fn justify(text: &str, method: &str, width: usize, fill: char) -> String {
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let margin = width - len;
    let (left, right) = match method {
        "ljust" => (0, margin),
        "rjust" => (margin, 0),
        // CPython's `pad(self, marg/2 + (marg & width & 1), ...)`.
        _ => {
            let left = margin / 2 + (margin & width & 1);
            (left, margin - left)
        }
    };
    let fill_text = |n: usize| std::iter::repeat_n(fill, n).collect::<String>();
    fill_text(left) + text + &fill_text(right)
}

fn expandtabs(text: &str, tabsize: i64) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut column = 0usize;
    for c in text.chars() {
        match c {
            '\t' if tabsize > 0 => {
                let spaces = tabsize as usize - column % tabsize as usize;
                check_width(out.len() + spaces)?;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\t' => {}
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    Ok(out)
}

fn is_cased(c: char) -> bool {
    c.is_uppercase() || c.is_lowercase() || get_general_category(c) == Category::TitlecaseLetter
}

fn change_case(text: &str, method: &str) -> String {
    match method {
        "upper" => text.to_uppercase(),
        "lower" => text.to_lowercase(),
        "casefold" => text.to_lowercase().replace('ß', "ss"),
        "swapcase" => text
            .chars()
            .map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect() })
            .collect(),
        "title" => {
            // Python: a cased character after an uncased one starts a word ("They'Re").
            let mut out = String::with_capacity(text.len());
            let mut previous_cased = false;
            for c in text.chars() {
                if previous_cased {
                    out.extend(c.to_lowercase());
                } else {
                    out.extend(c.to_uppercase());
                }
                previous_cased = is_cased(c);
            }
            out
        }
        _ => {
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars.as_str().to_lowercase().chars()).collect(),
                None => String::new(),
            }
        }
    }
}

fn join(separator: &str, items: &Value) -> Result<String, Error> {
    let mut out = String::new();
    for (index, item) in items.try_iter()?.enumerate() {
        let Some(text) = item.as_str().filter(|_| item.kind() == ValueKind::String) else {
            return Err(invalid_operation(format!(
                "sequence item {index}: expected str instance, {} found",
                type_name(&item)
            )));
        };
        if index > 0 {
            out.push_str(separator);
        }
        out.push_str(text);
        crate::jinja::scope::check_string(out.len(), "join")?;
    }
    Ok(out)
}

fn is_decimal(c: char) -> bool {
    get_general_category(c) == Category::DecimalNumber
}

/// Python's `isdigit`: decimals plus the digit forms (superscripts, circled and parenthesised digits).
fn is_digit(c: char) -> bool {
    is_decimal(c)
        || matches!(c, '²' | '³' | '¹' | '\u{2070}' | '\u{2074}'..='\u{2079}' | '\u{2080}'..='\u{2089}'
            | '\u{2460}'..='\u{2468}' | '\u{2474}'..='\u{247c}' | '\u{2488}'..='\u{2490}' | '\u{24ea}'
            | '\u{24f5}'..='\u{24fd}' | '\u{24ff}' | '\u{2776}'..='\u{277e}' | '\u{2780}'..='\u{2788}'
            | '\u{278a}'..='\u{2792}')
}

fn is_numeric(c: char) -> bool {
    c.is_numeric() || "〇一二三四五六七八九十百千万億兆零壹贰貳叁參肆伍陆陸柒捌玖拾佰仟".contains(c)
}

fn is_alpha(c: char) -> bool {
    matches!(
        get_general_category(c),
        Category::UppercaseLetter
            | Category::LowercaseLetter
            | Category::TitlecaseLetter
            | Category::ModifierLetter
            | Category::OtherLetter
    )
}

/// The `is...()` predicates; `None` for any other name.
fn predicate(text: &str, method: &str) -> Option<bool> {
    let all = |f: fn(char) -> bool| !text.is_empty() && text.chars().all(f);
    let cased = || text.chars().any(is_cased);
    Some(match method {
        "isdigit" => all(is_digit),
        "isdecimal" => all(is_decimal),
        "isnumeric" => all(is_numeric),
        "isalpha" => all(is_alpha),
        "isalnum" => all(|c| is_alpha(c) || is_numeric(c)),
        "isspace" => all(is_python_space),
        "isascii" => text.is_ascii(),
        "isprintable" => text.chars().all(is_printable),
        "islower" => {
            cased() && !text.chars().any(|c| c.is_uppercase() || get_general_category(c) == Category::TitlecaseLetter)
        }
        "isupper" => {
            cased() && !text.chars().any(|c| c.is_lowercase() || get_general_category(c) == Category::TitlecaseLetter)
        }
        "istitle" => is_title(text),
        "isidentifier" => {
            let mut chars = text.chars();
            chars.next().is_some_and(|c| c == '_' || is_alpha(c) || get_general_category(c) == Category::LetterNumber)
                && chars.all(|c| {
                    c == '_'
                        || is_alpha(c)
                        || is_decimal(c)
                        || matches!(
                            get_general_category(c),
                            Category::LetterNumber
                                | Category::NonspacingMark
                                | Category::SpacingMark
                                | Category::ConnectorPunctuation
                        )
                })
        }
        _ => return None,
    })
}

fn is_title(text: &str) -> bool {
    let mut previous_cased = false;
    let mut any_cased = false;
    for c in text.chars() {
        let upper = c.is_uppercase() || get_general_category(c) == Category::TitlecaseLetter;
        if upper {
            if previous_cased {
                return false;
            }
            previous_cased = true;
            any_cased = true;
        } else if c.is_lowercase() {
            if !previous_cased {
                return false;
            }
            previous_cased = true;
            any_cased = true;
        } else {
            previous_cased = false;
        }
    }
    any_cased
}

// ---------------------------------------------------------------------------------------------
// dict, list, tuple

fn dict_method(map: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let view = |kind| {
        positional(args, &[], 0)?;
        Ok(Value::from_object(DictView::new(map, kind)?))
    };
    match method {
        "keys" => view(ViewKind::Keys),
        "values" => view(ViewKind::Values),
        "items" => view(ViewKind::Items),
        "get" => {
            let a = positional(args, &["key", "default"], 1)?;
            let found = map.get_item(a[0].as_ref().unwrap_or(&Value::UNDEFINED))?;
            Ok(if found.is_undefined() { a[1].clone().unwrap_or(Value::from(())) } else { found })
        }
        "copy" => {
            positional(args, &[], 0)?;
            let pairs =
                map.try_iter()?.map(|k| Ok((k.clone(), map.get_item(&k)?))).collect::<Result<Vec<_>, Error>>()?;
            Ok(Value::from_pairs(pairs))
        }
        "fromkeys" => {
            let a = positional(args, &["iterable", "value"], 1)?;
            fromkeys(a[0].as_ref().unwrap_or(&Value::UNDEFINED), a[1].clone().unwrap_or(Value::from(())))
        }
        "clear" | "pop" | "popitem" | "setdefault" | "update" => Err(unsafe_method(method, "dict")),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn seq_method(seq: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let is_tuple = seq.downcast_object_ref::<Tuple>().is_some();
    let owner = if is_tuple { "tuple" } else { "list" };
    match method {
        "count" => {
            let a = positional(args, &["value"], 1)?;
            let needle = a[0].clone().unwrap_or_default();
            Ok(Value::from(seq.try_iter()?.filter(|item| *item == needle).count()))
        }
        "index" => {
            let a = positional(args, &["value", "start", "stop"], 1)?;
            let needle = a[0].clone().unwrap_or_default();
            let items: Vec<Value> = seq.try_iter()?.collect();
            let len = items.len() as i64;
            let clamp = |i: Option<i64>, default: i64| match i {
                None => default,
                Some(i) if i < 0 => (i + len).max(0),
                Some(i) => i.min(len),
            };
            let start = clamp(opt_int(&a[1], "start")?, 0) as usize;
            let stop = clamp(opt_int(&a[2], "stop")?, len) as usize;
            (start..stop.max(start)).find(|&i| items[i] == needle).map(Value::from).ok_or_else(|| {
                invalid_operation(format!(
                    "ValueError: {} is not in {owner}",
                    crate::jinja::value::print::repr(&needle)
                ))
            })
        }
        "copy" if !is_tuple => {
            positional(args, &[], 0)?;
            Ok(Value::from(seq.try_iter()?.collect::<Vec<_>>()))
        }
        "append" | "clear" | "extend" | "insert" | "pop" | "remove" | "reverse" | "sort" if !is_tuple => {
            Err(unsafe_method(method, owner))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

#[cfg(test)]
mod tests {
    use crate::jinja::environment::test_support::{fails, render};

    #[test]
    fn split_and_strip_like_python() {
        assert_eq!(render("{{ 'a.b.c'.rsplit('.', 1) }}{{ 'a,b,c'.split(sep=',', maxsplit=1) }}{{ ''.split(',') }}{{ ''.split() }}"), "['a.b', 'c']['a', 'b,c'][''][]");
        assert_eq!(
            render("{{ '  a b  c '.rsplit() }}{{ ' a b c'.rsplit(None, 1) }}{{ ' a  b '.rsplit(None, 0) }}"),
            "['a', 'b', 'c'][' a b', 'c'][' a  b']"
        );
        assert_eq!(render("{{ '\u{1c} a b \u{3000}\u{1f}'.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a '.lstrip() }}|{{ ' a '.strip(none) }}|"), "a b|a|a |a|");
        assert_eq!(
            render("{{ ' a\u{1d}b  c '.split() }}{{ 'a b  c '.split(None, 1) }}"),
            "['a', 'b', 'c']['a', 'b  c ']"
        );
        assert_eq!(
            render("{{ 'a\r\nb\u{1e}c\n'.splitlines() }}{{ 'a\nb'.splitlines(keepends=true) }}"),
            "['a', 'b', 'c']['a\\n', 'b']"
        );
        assert!(fails("{{ 'a'.split('') }}"));
    }

    #[test]
    fn search_methods_take_slice_bounds() {
        assert_eq!(render("{{ 'abcabc'.find('c', 3) }}{{ 'abc'.find('z') }}{{ 'héllo'.index('l') }}{{ 'héllo'.rindex('l') }}{{ 'aaa'.count('a', 1) }}{{ 'abc'.count('') }}"), "5-12324");
        assert_eq!(render("{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.startswith('b', 1) }}{{ 'abc'.endswith('b', 0, 2) }}{{ 'abc'.startswith('', 5) }}"), "TrueTrueTrueFalse");
        assert!(fails("{{ 'abc'.index('z') }}"));
        assert!(fails("{{ 'abc'.startswith(['a']) }}"));
    }

    #[test]
    fn reshaping_methods() {
        assert_eq!(
            render("{{ 'k=v=w'.partition('=') }}{{ 'abc'.rpartition('x') }}"),
            "('k', '=', 'v=w')('', '', 'abc')"
        );
        assert_eq!(
            render("{{ 'prefix-x'.removeprefix('prefix-') }}{{ 'x.py'.removesuffix('.py') }}{{ '-42'.zfill(5) }}"),
            "xx-0042"
        );
        assert_eq!(render("{{ 'abc'.center(8, '*') }}|{{ 'abc'.center(7) }}|{{ 'ab'.ljust(4) }}|{{ 'ab'.rjust(4, '0') }}|{{ 'a\tb'.expandtabs(4) }}"), "**abc***|  abc  |ab  |00ab|a   b");
        assert_eq!(
            render("{{ 'aaa'.replace('a', 'b', 2) }}{{ 'ab'.replace('', '-') }}{{ 'ab'.replace('', '-', 1) }}"),
            "bba-a-b--ab"
        );
        assert_eq!(render("{{ \"they're bill's\".title() }}|{{ 'hELLO wORLD'.capitalize() }}|{{ 'aBc'.swapcase() }}|{{ 'ß'.upper() }}"), "They'Re Bill'S|Hello world|AbC|SS");
        assert_eq!(render("{{ ','.join(['a', 'b']) }}{{ ''.join('abc') }}{{ '{} {x}'.format(1, x=2) }}"), "a,babc1 2");
        assert!(fails("{{ ','.join([1, 2]) }}"));
    }

    #[test]
    fn predicates() {
        assert_eq!(render("{{ '12'.isdigit() }}{{ '²'.isdigit() }}{{ '²'.isdecimal() }}{{ ''.isspace() }}{{ 'Ab Cd'.istitle() }}{{ 'ab1'.isidentifier() }}{{ 'é'.isascii() }}{{ 'aB'.islower() }}"), "TrueTrueFalseFalseTrueTrueFalseFalse");
    }

    #[test]
    fn dict_and_list_methods() {
        assert_eq!(
            render("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('z') }}{{ {'a': 1}.get('z', 2) }}{{ {'a': 1}.copy() }}"),
            "1None2{'a': 1}"
        );
        assert_eq!(
            render("{{ [1, 2, 2].count(2) }}{{ [1, 2].index(2) }}{{ (1, 2).index(1) }}{{ [1].copy() }}"),
            "210[1]"
        );
        assert!(fails("{{ [1].index(5) }}"));
        assert!(fails("{{ {'a': 1}.get('z', default=2) }}"));
        assert!(fails("{{ 'a'.strip(chars='a') }}"));
        assert!(fails("{{ {'a': 1}.update({'b': 2}) }}"));
        assert!(fails("{% set l = [1] %}{{ l.append(2) }}"));
    }
}
