//! Python's string formatting as templates reach it: `fmt % args` (printf style, also the
//! `format` filter) and `str.format` with the format-specification mini-language.

use minijinja::value::{Tuple, Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::print::{float_repr, py_str, repr, write_repr, write_str};
use super::types::{invalid_operation, type_name};

/// Longest string a width, `zfill` or `center` may ask for, as minijinja caps `'x' * n`.
pub const MAX_PADDED_LEN: usize = 100 * 1024 * 1024;

/// Checks a requested width before anything allocates it.
pub fn check_width(width: usize) -> Result<usize, Error> {
    if width > MAX_PADDED_LEN {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("width {width} is too large")));
    }
    crate::jinja::scope::check_string(width, "a width or precision")?;
    Ok(width)
}

// ---------------------------------------------------------------------------------------------
// Numbers as Python formats them

/// A number as `int()` / `float()` see it: booleans are integers.
#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

fn as_number(value: &Value) -> Option<Number> {
    match value.kind() {
        ValueKind::Bool => Some(Number::Int(value.is_true() as i128)),
        ValueKind::Number if value.is_integer() => i128::try_from(value.clone()).ok().map(Number::Int),
        ValueKind::Number => f64::try_from(value.clone()).ok().map(Number::Float),
        _ => None,
    }
}

fn as_f64(number: Number) -> f64 {
    match number {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    }
}

/// `'%.*e'`: the mantissa with `precision` digits and a signed exponent of at least two digits.
fn exponent_form(value: f64, precision: usize, upper: bool) -> String {
    let text = format!("{:.*e}", precision, value);
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    let e = if upper { 'E' } else { 'e' };
    format!("{mantissa}{e}{sign}{:02}", exponent.abs())
}

/// The `g` presentation: fixed or exponent form by the exponent, trailing zeros removed unless
/// `alternate`.
fn general_form(value: f64, precision: usize, alternate: bool, upper: bool) -> String {
    let precision = precision.max(1);
    let probe = format!("{:.*e}", precision - 1, value);
    let exponent: i64 = probe.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let mut text = if (-4..precision as i64).contains(&exponent) {
        format!("{:.*}", (precision as i64 - 1 - exponent).max(0) as usize, value)
    } else {
        exponent_form(value, precision - 1, upper)
    };
    if !alternate {
        let (mantissa, rest) = match text.find(['e', 'E']) {
            Some(at) => (text[..at].to_string(), text[at..].to_string()),
            None => (text.clone(), String::new()),
        };
        let mantissa = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            mantissa
        };
        text = mantissa + &rest;
    } else if !text.contains('.') {
        match text.find(['e', 'E']) {
            Some(at) => text.insert(at, '.'),
            None => text.push('.'),
        }
    }
    text
}

fn non_finite(value: f64, upper: bool) -> Option<String> {
    let text = if value.is_nan() {
        "nan"
    } else if value.is_infinite() {
        "inf"
    } else {
        return None;
    };
    Some(if upper { text.to_uppercase() } else { text.to_string() })
}

/// Formats the magnitude of a float for presentation type `kind`, without the sign.
fn float_body(value: f64, kind: char, precision: Option<usize>, alternate: bool) -> String {
    let upper = kind.is_ascii_uppercase();
    if let Some(text) = non_finite(value, upper) {
        return text;
    }
    let value = value.abs();
    let mut text = match kind {
        'f' | 'F' => format!("{:.*}", precision.unwrap_or(6), value),
        'e' | 'E' => exponent_form(value, precision.unwrap_or(6), upper),
        'g' | 'G' => general_form(value, precision.unwrap_or(6), alternate, upper),
        '%' => format!("{:.*}%", precision.unwrap_or(6), value * 100.0),
        // No presentation type: `repr` without a precision, else `g` that keeps a `.0`.
        _ => match precision {
            None => float_repr(value),
            Some(p) => {
                let mut text = general_form(value, p, alternate, false);
                if !text.contains(['.', 'e', 'n', 'i']) {
                    text.push_str(".0");
                }
                text
            }
        },
    };
    if alternate && matches!(kind, 'f' | 'F' | 'e' | 'E' | '%') && !text.contains('.') {
        let at = text.find(['e', 'E', '%']).unwrap_or(text.len());
        text.insert(at, '.');
    }
    text
}

fn int_body(value: i128, kind: char) -> String {
    let magnitude = value.unsigned_abs();
    match kind {
        'x' => format!("{magnitude:x}"),
        'X' => format!("{magnitude:X}"),
        'o' => format!("{magnitude:o}"),
        'b' => format!("{magnitude:b}"),
        _ => magnitude.to_string(),
    }
}

fn int_prefix(kind: char) -> &'static str {
    match kind {
        'x' => "0x",
        'X' => "0X",
        'o' => "0o",
        'b' => "0b",
        _ => "",
    }
}

fn is_negative(number: Number) -> bool {
    match number {
        Number::Int(i) => i < 0,
        Number::Float(f) => f.is_sign_negative() && !f.is_nan(),
    }
}

// ---------------------------------------------------------------------------------------------
// printf style: `fmt % args`

/// `fmt % args`: a tuple gives the arguments, anything else is the single argument; a dict or
/// list may also be indexed by `%(key)s`.
pub fn percent_format(fmt: &str, args: &Value) -> Result<String, Error> {
    let tuple = args.downcast_object_ref::<Tuple>();
    let items: Vec<Value> = match tuple {
        Some(tuple) => tuple.to_vec(),
        None => vec![args.clone()],
    };
    // Python takes any non-tuple, non-str object with `__getitem__` as the mapping.
    let mapping = (tuple.is_none() && matches!(args.kind(), ValueKind::Map | ValueKind::Seq)).then_some(args);
    let mut next = 0;
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Each field is within the string limit; this bounds their sum.
        crate::jinja::scope::check_string(out.len(), "%-formatting")?;
        let mut key = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut depth = 1;
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some(')') if depth == 1 => break,
                    Some(c) => {
                        depth += i32::from(c == '(') - i32::from(c == ')');
                        name.push(c);
                    }
                    None => return Err(invalid_operation("incomplete format key")),
                }
            }
            key = Some(name);
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.align = Some('<'),
                '+' => spec.sign = '+',
                ' ' => {
                    if spec.sign != '+' {
                        spec.sign = ' '
                    }
                }
                '#' => spec.alternate = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut take_arg = || -> Result<Value, Error> {
            let item =
                items.get(next).cloned().ok_or_else(|| invalid_operation("not enough arguments for format string"))?;
            next += 1;
            Ok(item)
        };
        if chars.peek() == Some(&'*') {
            chars.next();
            let width = take_arg()?;
            let width =
                width.as_i64().filter(|_| width.is_integer()).ok_or_else(|| invalid_operation("* wants int"))?;
            if width < 0 {
                spec.align = Some('<');
            }
            spec.width = check_width(width.unsigned_abs() as usize)?;
        } else {
            spec.width = check_width(read_digits(&mut chars))?;
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                let precision = take_arg()?;
                let precision = precision
                    .as_i64()
                    .filter(|_| precision.is_integer())
                    .ok_or_else(|| invalid_operation("* wants int"))?;
                spec.precision = Some(check_width(precision.max(0) as usize)?);
            } else {
                spec.precision = Some(check_width(read_digits(&mut chars))?);
            }
        }
        while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
            chars.next();
        }
        let kind = chars.next().ok_or_else(|| invalid_operation("incomplete format"))?;
        if kind == '%' {
            out.push('%');
            continue;
        }
        let arg = match &key {
            Some(key) => mapping_item(mapping, key)?,
            None => take_arg()?,
        };
        out.push_str(&percent_one(&arg, kind, &spec)?);
    }
    if next < items.len() && mapping.is_none() {
        return Err(invalid_operation("not all arguments converted during string formatting"));
    }
    crate::jinja::scope::check_string(out.len(), "string formatting")?;
    Ok(out)
}

/// `%(key)s`: the item of the mapping argument.
fn mapping_item(mapping: Option<&Value>, key: &str) -> Result<Value, Error> {
    let mapping = mapping.ok_or_else(|| invalid_operation("format requires a mapping"))?;
    let found = mapping.get_item(&Value::from(key))?;
    if found.is_undefined() {
        return Err(invalid_operation(format!("KeyError: {key:?}")));
    }
    Ok(found)
}

fn read_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> usize {
    let mut n: usize = 0;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize);
        chars.next();
    }
    n
}

/// One `%` conversion.
fn percent_one(arg: &Value, kind: char, spec: &Spec) -> Result<String, Error> {
    match kind {
        's' | 'r' | 'a' => {
            let mut text = String::new();
            match kind {
                's' => write_str(arg, &mut text),
                'r' => write_repr(arg, &mut text),
                _ => text = ascii(&repr(arg)),
            }
            if let Some(precision) = spec.precision {
                text = text.chars().take(precision).collect();
            }
            Ok(pad(String::new(), text, &Spec { zero: false, ..spec.clone() }, '<'))
        }
        'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
            let number = as_number(arg).ok_or_else(|| {
                let wants = if matches!(kind, 'd' | 'i' | 'u') { "a real number" } else { "an integer" };
                invalid_operation(format!("%{kind} format: {wants} is required, not {}", type_name(arg)))
            })?;
            let int = match number {
                Number::Int(i) => i,
                Number::Float(f) if matches!(kind, 'd' | 'i' | 'u') && f.is_finite() => f.trunc() as i128,
                Number::Float(f) if !f.is_finite() => {
                    return Err(invalid_operation("cannot convert float infinity or NaN to integer"))
                }
                Number::Float(_) => {
                    return Err(invalid_operation(format!("%{kind} format: an integer is required, not float")))
                }
            };
            let kind = if kind == 'i' || kind == 'u' { 'd' } else { kind };
            let mut body = int_body(int, kind);
            if let Some(precision) = spec.precision {
                if body.len() < precision {
                    body = "0".repeat(precision - body.len()) + &body;
                }
            }
            let prefix = if spec.alternate { int_prefix(kind) } else { "" };
            Ok(pad(sign_text(int < 0, spec.sign) + prefix, body, spec, '>'))
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let value = as_number(arg)
                .map(as_f64)
                .ok_or_else(|| invalid_operation(format!("must be real number, not {}", type_name(arg))))?;
            let body = float_body(value, kind, spec.precision.or(Some(6)), spec.alternate);
            let spec = Spec { zero: spec.zero && value.is_finite(), ..spec.clone() };
            Ok(pad(sign_text(value.is_sign_negative() && !value.is_nan(), spec.sign), body, &spec, '>'))
        }
        'c' => {
            let text = match arg.kind() {
                ValueKind::String if arg.as_str().is_some_and(|s| s.chars().count() == 1) => {
                    arg.as_str().unwrap_or_default().to_string()
                }
                _ => {
                    let code = arg
                        .as_i64()
                        .filter(|_| arg.is_integer())
                        .ok_or_else(|| invalid_operation("%c requires an int or a unicode character"))?;
                    char::from_u32(u32::try_from(code).map_err(|_| invalid_operation("%c arg not in range(0x110000)"))?)
                        .ok_or_else(|| invalid_operation("%c arg not in range(0x110000)"))?
                        .to_string()
                }
            };
            Ok(pad(String::new(), text, &Spec { zero: false, ..spec.clone() }, '<'))
        }
        other => Err(invalid_operation(format!("unsupported format character '{other}'"))),
    }
}

fn sign_text(negative: bool, sign: char) -> String {
    match (negative, sign) {
        (true, _) => "-".into(),
        (false, '+') => "+".into(),
        (false, ' ') => " ".into(),
        _ => String::new(),
    }
}

/// Python's `ascii()`: `repr()` with non-ASCII characters escaped.
fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            0..=0x7f => out.push(c),
            code @ 0x80..=0xff => out.push_str(&format!("\\x{code:02x}")),
            code @ 0x100..=0xffff => out.push_str(&format!("\\u{code:04x}")),
            code => out.push_str(&format!("\\U{code:08x}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Padding shared by both styles

/// A parsed format specification (`[[fill]align][sign][z][#][0][width][,_][.precision][type]`),
/// also used for printf flags.
#[derive(Clone, Default)]
struct Spec {
    fill: Option<char>,
    align: Option<char>,
    sign: char,
    no_negative_zero: bool,
    alternate: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

/// Pads `prefix + body` to the width: `=` (or the `0` flag) pads between the prefix and body.
fn pad(prefix: String, body: String, spec: &Spec, default_align: char) -> String {
    let len = prefix.chars().count() + body.chars().count();
    if len >= spec.width {
        return prefix + &body;
    }
    let missing = spec.width - len;
    let (fill, align) = match (spec.align, spec.fill) {
        (Some(align), fill) => (fill.unwrap_or(' '), align),
        (None, _) if spec.zero => ('0', '='),
        (None, fill) => (fill.unwrap_or(' '), default_align),
    };
    let fill_text = |n: usize| std::iter::repeat_n(fill, n).collect::<String>();
    match align {
        '<' => prefix + &body + &fill_text(missing),
        '^' => fill_text(missing / 2) + &prefix + &body + &fill_text(missing - missing / 2),
        '=' => prefix + &fill_text(missing) + &body,
        _ => fill_text(missing) + &prefix + &body,
    }
}

// ---------------------------------------------------------------------------------------------
// str.format

/// `fmt.format(*args, **kwargs)`; fields read attributes and items as jinja2's sandbox does.
pub fn str_format(fmt: &str, args: &[Value], kwargs: &[(String, Value)]) -> Result<String, Error> {
    let mut auto_index = Some(0usize);
    let mut manual = false;
    format_fields(fmt, args, kwargs, &mut auto_index, &mut manual, 2)
}

fn format_fields(
    fmt: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
    auto_index: &mut Option<usize>,
    manual: &mut bool,
    depth: usize,
) -> Result<String, Error> {
    if depth == 0 {
        return Err(invalid_operation("Max string recursion exceeded"));
    }
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(invalid_operation("Single '}' encountered in format string")),
            '{' => {
                crate::jinja::scope::check_string(out.len(), "str.format")?;
                let mut nesting = 1;
                let start = at + 1;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    match c {
                        '{' => nesting += 1,
                        '}' => {
                            nesting -= 1;
                            if nesting == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| invalid_operation("expected '}' before end of string"))?;
                let field = &fmt[start..end];
                out.push_str(&format_field(field, args, kwargs, auto_index, manual, depth)?);
            }
            c => out.push(c),
        }
    }
    crate::jinja::scope::check_string(out.len(), "string formatting")?;
    Ok(out)
}

fn format_field(
    field: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
    auto_index: &mut Option<usize>,
    manual: &mut bool,
    depth: usize,
) -> Result<String, Error> {
    // The name ends at the first `!` or `:` outside brackets.
    let mut in_brackets = false;
    let mut name_end = field.len();
    for (i, c) in field.char_indices() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            '!' | ':' if !in_brackets => {
                name_end = i;
                break;
            }
            _ => {}
        }
    }
    let name = &field[..name_end];
    let mut rest = &field[name_end..];
    let mut conversion = None;
    if let Some(after) = rest.strip_prefix('!') {
        let mut it = after.chars();
        conversion =
            Some(it.next().ok_or_else(|| invalid_operation("end of string while looking for conversion specifier"))?);
        rest = it.as_str();
        if !rest.is_empty() && !rest.starts_with(':') {
            return Err(invalid_operation("expected ':' after conversion specifier"));
        }
    }
    // The field's value is looked up before the fields nested in its spec, as Python numbers them.
    let mut value = lookup_field(name, args, kwargs, auto_index, manual)?;
    let spec_text = rest.strip_prefix(':').unwrap_or("");
    let spec_text = if spec_text.contains('{') {
        format_fields(spec_text, args, kwargs, auto_index, manual, depth - 1)?
    } else {
        spec_text.to_string()
    };
    match conversion {
        None => {}
        Some('s') => value = Value::from(py_str(&value)),
        Some('r') => value = Value::from(repr(&value)),
        Some('a') => value = Value::from(ascii(&repr(&value))),
        Some(other) => return Err(invalid_operation(format!("Unknown conversion specifier {other}"))),
    }
    format_value(&value, &spec_text)
}

fn lookup_field(
    name: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
    auto_index: &mut Option<usize>,
    manual: &mut bool,
) -> Result<Value, Error> {
    let first_end = name.find(['.', '[']).unwrap_or(name.len());
    let first = &name[..first_end];
    let mut value = if first.is_empty() {
        if *manual {
            return Err(invalid_operation(
                "cannot switch from manual field specification to automatic field numbering",
            ));
        }
        let index = auto_index.ok_or_else(|| invalid_operation("cannot switch from manual field numbering"))?;
        *auto_index = Some(index + 1);
        args.get(index).cloned().ok_or_else(|| {
            invalid_operation(format!("Replacement index {index} out of range for positional args tuple"))
        })?
    } else if let Ok(index) = first.parse::<usize>() {
        if auto_index.is_some_and(|i| i > 0) {
            return Err(invalid_operation(
                "cannot switch from automatic field numbering to manual field specification",
            ));
        }
        *manual = true;
        *auto_index = None;
        args.get(index).cloned().ok_or_else(|| {
            invalid_operation(format!("Replacement index {index} out of range for positional args tuple"))
        })?
    } else {
        kwargs
            .iter()
            .find(|(key, _)| key == first)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| invalid_operation(format!("KeyError: '{first}'")))?
    };
    let mut rest = &name[first_end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            value = value.get_attr(&after[..end]).unwrap_or_default();
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| invalid_operation("Missing ']' in format string"))?;
            let key = &after[..end];
            let key = key.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(key));
            value = value.get_item(&key).unwrap_or_default();
            rest = &after[end + 1..];
        } else {
            return Err(invalid_operation("Only '.' or '[' may follow ']' in format field specifier"));
        }
    }
    Ok(value)
}

fn parse_spec(text: &str) -> Result<Spec, Error> {
    let chars: Vec<char> = text.chars().collect();
    let mut spec = Spec { sign: '-', ..Spec::default() };
    let mut i = 0;
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(chars[1]) {
        spec.fill = Some(chars[0]);
        spec.align = Some(chars[1]);
        i = 2;
    } else if chars.first().copied().is_some_and(is_align) {
        spec.align = Some(chars[0]);
        i = 1;
    }
    if let Some(&c @ ('+' | '-' | ' ')) = chars.get(i) {
        spec.sign = c;
        i += 1;
    }
    if chars.get(i) == Some(&'z') {
        spec.no_negative_zero = true;
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        spec.alternate = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        spec.zero = true;
        i += 1;
    }
    let mut width = 0usize;
    while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
        width = width.saturating_mul(10).saturating_add(d as usize);
        i += 1;
    }
    spec.width = check_width(width)?;
    if let Some(&c @ (',' | '_')) = chars.get(i) {
        spec.grouping = Some(c);
        i += 1;
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        let start = i;
        let mut precision = 0usize;
        while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
            precision = precision.saturating_mul(10).saturating_add(d as usize);
            i += 1;
        }
        if i == start {
            return Err(invalid_operation("Format specifier missing precision"));
        }
        spec.precision = Some(check_width(precision)?);
    }
    if i < chars.len() {
        spec.kind = Some(chars[i]);
        i += 1;
    }
    if i < chars.len() {
        return Err(invalid_operation("Invalid format specifier"));
    }
    Ok(spec)
}

/// Python's `format(value, spec)`.
pub fn format_value(value: &Value, spec_text: &str) -> Result<String, Error> {
    if spec_text.is_empty() {
        return Ok(py_str(value));
    }
    let spec = parse_spec(spec_text)?;
    match value.kind() {
        ValueKind::String => format_string(value.as_str().unwrap_or_default(), &spec),
        ValueKind::Number | ValueKind::Bool => match as_number(value) {
            Some(Number::Int(i)) => format_int(i, &spec),
            Some(Number::Float(f)) => format_float(f, &spec),
            None => Err(invalid_operation("integer is too large to format")),
        },
        _ => Err(invalid_operation(format!("unsupported format string passed to {}.__format__", type_name(value)))),
    }
}

fn format_string(text: &str, spec: &Spec) -> Result<String, Error> {
    if !matches!(spec.kind, None | Some('s')) {
        return Err(invalid_operation(format!(
            "Unknown format code '{}' for object of type 'str'",
            spec.kind.unwrap_or('s')
        )));
    }
    if spec.sign != '-' || spec.alternate || spec.grouping.is_some() {
        return Err(invalid_operation("Sign not allowed in string format specifier"));
    }
    if spec.align == Some('=') {
        return Err(invalid_operation("'=' alignment not allowed in string format specifier"));
    }
    let text: String = match spec.precision {
        Some(p) => text.chars().take(p).collect(),
        None => text.to_string(),
    };
    let spec = Spec { zero: false, fill: spec.fill.or(spec.zero.then_some('0')), ..spec.clone() };
    Ok(pad(String::new(), text, &spec, '<'))
}

fn format_int(value: i128, spec: &Spec) -> Result<String, Error> {
    let kind = spec.kind.unwrap_or('d');
    match kind {
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%' => return format_float(value as f64, spec),
        'n' | 'd' | 'b' | 'o' | 'x' | 'X' | 'c' => {}
        other => return Err(invalid_operation(format!("Unknown format code '{other}' for object of type 'int'"))),
    }
    if spec.precision.is_some() {
        return Err(invalid_operation("Precision not allowed in integer format specifier"));
    }
    if kind == 'c' {
        let c = u32::try_from(value)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| invalid_operation("%c arg not in range(0x110000)"))?;
        return Ok(pad(String::new(), c.to_string(), spec, '>'));
    }
    let mut body = int_body(value, if kind == 'n' { 'd' } else { kind });
    if let Some(separator) = spec.grouping {
        let group = if matches!(kind, 'b' | 'o' | 'x' | 'X') { 4 } else { 3 };
        body = group_digits(&body, separator, group);
    }
    let prefix = if spec.alternate { int_prefix(kind) } else { "" };
    Ok(pad(sign_text(value < 0, spec.sign) + prefix, body, spec, '>'))
}

fn format_float(value: f64, spec: &Spec) -> Result<String, Error> {
    let kind = spec.kind.unwrap_or('\0');
    if !matches!(kind, '\0' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'n' | '%') {
        return Err(invalid_operation(format!("Unknown format code '{kind}' for object of type 'float'")));
    }
    let kind = if kind == 'n' { 'g' } else { kind };
    let mut body = float_body(value, kind, spec.precision, spec.alternate);
    let mut negative = is_negative(Number::Float(value));
    if spec.no_negative_zero && negative && body.trim_start_matches(['0', '.']).trim_end_matches('%').is_empty() {
        negative = false;
    }
    if let Some(separator) = spec.grouping {
        let int_end = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
        body = group_digits(&body[..int_end], separator, 3) + &body[int_end..];
    }
    let spec = Spec { zero: spec.zero && value.is_finite(), ..spec.clone() };
    Ok(pad(sign_text(negative, spec.sign), body, &spec, '>'))
}

fn group_digits(digits: &str, separator: char, group: usize) -> String {
    let count = digits.chars().count();
    let mut out = String::with_capacity(count + count / group);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (count - i).is_multiple_of(group) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
// 3.14159 is a float to format, not an approximation of PI.
#[allow(clippy::approx_constant)]
mod tests {
    use super::*;

    fn pct(fmt: &str, args: Value) -> String {
        percent_format(fmt, &args).unwrap()
    }

    fn tuple(items: Vec<Value>) -> Value {
        Value::from(Tuple::from(items))
    }

    #[test]
    fn percent_conversions_like_python() {
        assert_eq!(pct("%s", Value::from("x")), "x");
        assert_eq!(
            pct("%d|%.2f|%5d|%-5d|%05d", tuple(vec![3.into(), 3.14159.into(), 1.into(), 2.into(), 3.into()])),
            "3|3.14|    1|2    |00003"
        );
        assert_eq!(
            pct("%x %o %X %e %g", tuple(vec![255.into(), 8.into(), 255.into(), 12345.678.into(), 0.0001.into()])),
            "ff 10 FF 1.234568e+04 0.0001"
        );
        assert_eq!(pct("%s %r", tuple(vec![Value::from(()), "a".into()])), "None 'a'");
        assert_eq!(pct("%(a)s-%%", Value::from_pairs([("a", 1)])), "1-%");
        assert_eq!(pct("%s", Value::from(vec![1, 2])), "[1, 2]");
        assert_eq!(
            pct("%d %s %c %+d % d", tuple(vec![3.7.into(), true.into(), 65.into(), 5.into(), 5.into()])),
            "3 True A +5  5"
        );
        assert_eq!(
            pct("%.3s|%#x|%#o|%.3d", tuple(vec!["abcdef".into(), 255.into(), 8.into(), 7.into()])),
            "abc|0xff|0o10|007"
        );
        assert_eq!(
            pct("%g %g %g %G", tuple(vec![1e16.into(), 1e-05.into(), 100000.0.into(), 1e-10.into()])),
            "1e+16 1e-05 100000 1E-10"
        );
    }

    #[test]
    fn percent_errors_like_python() {
        assert!(percent_format("%s %s", &Value::from("a")).is_err());
        assert!(percent_format("%d", &Value::from("a")).is_err());
        assert!(percent_format("x", &Value::from(5)).is_err());
        assert!(percent_format("%x", &Value::from(1.5)).is_err());
        assert!(percent_format("%", &Value::from(1)).is_err());
        assert_eq!(percent_format("x", &Value::from(vec![1])).unwrap(), "x");
    }

    #[test]
    fn str_format_fields_and_specs() {
        let f = |fmt: &str, args: Vec<Value>| str_format(fmt, &args, &[("x".into(), Value::from(1.0))]).unwrap();
        assert_eq!(f("{} {}", vec![1.into(), "a".into()]), "1 a");
        assert_eq!(f("{0}{1}{0}", vec!["a".into(), "b".into()]), "aba");
        assert_eq!(f("{x}|{x:.3}|{x:g}", vec![]), "1.0|1.0|1");
        assert_eq!(
            f("{:>5}|{:<4}|{:^7}|{:*^7}", vec!["a".into(), "b".into(), "c".into(), "d".into()]),
            "    a|b   |   c   |***d***"
        );
        assert_eq!(
            f(
                "{!r}|{:.2f}|{}|{}",
                vec!["a".into(), 3.14159.into(), ().into(), Value::from(vec![Value::from(1), "a".into()])]
            ),
            "'a'|3.14|None|[1, 'a']"
        );
        assert_eq!(
            f(
                "{:,}|{:_x}|{:08.3f}|{:+d}|{:#b}|{:%}",
                vec![1234567.into(), 65535.into(), (-3.14159).into(), 5.into(), 5.into(), 0.25.into()]
            ),
            "1,234,567|ffff|-003.142|+5|0b101|25.000000%"
        );
        assert_eq!(f("{{}}{:{}}", vec!["a".into(), 3.into()]), "{}a  ");
        assert_eq!(f("{0[k]}{0.k}", vec![Value::from_pairs([("k", "v")])]), "vv");
        assert_eq!(f("{}|{:.3}|{:e}", vec![1e16.into(), 1234.0.into(), 0.0.into()]), "1e+16|1.23e+03|0.000000e+00");
    }

    #[test]
    fn str_format_errors() {
        assert!(str_format("{", &[], &[]).is_err());
        assert!(str_format("}", &[], &[]).is_err());
        assert!(str_format("{}", &[], &[]).is_err());
        assert!(str_format("{0}{}", &[1.into(), 2.into()], &[]).is_err());
        assert!(str_format("{:d}", &["a".into()], &[]).is_err());
        assert!(str_format("{:>3}", &[().into()], &[]).is_err());
    }
}
