//! Python semantics for the operators minijinja evaluates differently: `source::semantics` turns
//! them into calls of the functions registered here.
//!
//! - `a % b`: string formatting when `a` is a string (minijinja only knows the modulo);
//! - `<`, `<=`, `>`, `>=`: Python refuses to order unrelated types (`1 < 'a'`, `none < 1`);
//! - `in` / `not in`: `1 in 'abc'` and `x in 5` are type errors;
//! - `~`: items are printed with `str()` (minijinja prints `1e-05` as `0.00001`);
//! - `for x in 'abc'`: minijinja does not know the length of a string's iterator, so
//!   `loop.length`, `loop.last` and `loop.revindex` were empty;
//! - `x.name` where `name` is a method of `x`'s type: jinja2 returns the method (so a dict
//!   with an `items` key still gives the method for `d.items`).

use std::cmp::Ordering;

use minijinja::value::{Rest, Tuple, Value, ValueKind};
use minijinja::{Environment, Error};

use crate::jinja::value::compare::{float_of, int_of, py_partial_cmp};
use crate::jinja::value::format::percent_format;
use crate::jinja::value::objects::{reject_private_attribute, PyMethod};
use crate::jinja::value::print::write_str;
use crate::jinja::value::types::{invalid_operation, is_namespace, type_name};
use crate::limits::MAX_NESTING;

/// Names of the functions the rewritten source calls.
pub const MOD: &str = "__fm_mod";
pub const COMPARE: &str = "__fm_cmp";
pub const LT: &str = "__fm_lt";
pub const LE: &str = "__fm_le";
pub const GT: &str = "__fm_gt";
pub const GE: &str = "__fm_ge";
pub const IN: &str = "__fm_in";
pub const NOT_IN: &str = "__fm_not_in";
pub const CONCAT: &str = "__fm_concat";
pub const ITER: &str = "__fm_iter";
pub const ITER_UNPACK: &str = "__fm_iter_unpack";
pub const UNPACK: &str = "__fm_unpack";
pub const ATTR: &str = "__fm_attr";
pub const PRIVATE_ATTR: &str = "__fm_private_attr";
pub const ADD: &str = "__fm_add";
pub const MUL: &str = "__fm_mul";
pub const STORE: &str = "__fm_store";

/// Registers the functions above.
pub fn register(env: &mut Environment<'static>) {
    env.add_function(MOD, |a: &Value, b: &Value| modulo(a, b));
    env.add_function(COMPARE, compare_chain);
    env.add_function(LT, |a: &Value, b: &Value| compare(a, "<", b));
    env.add_function(LE, |a: &Value, b: &Value| compare(a, "<=", b));
    env.add_function(GT, |a: &Value, b: &Value| compare(a, ">", b));
    env.add_function(GE, |a: &Value, b: &Value| compare(a, ">=", b));
    env.add_function(IN, |a: &Value, b: &Value| contains(b, a));
    env.add_function(NOT_IN, |a: &Value, b: &Value| contains(b, a).map(|found| !found));
    env.add_function(CONCAT, |parts: Rest<Value>| {
        let mut out = String::new();
        for part in parts.iter() {
            write_str(part, &mut out);
            crate::jinja::scope::check_string(out.len(), "~")?;
        }
        Ok::<_, Error>(Value::from(out))
    });
    env.add_function(ADD, |a: &Value, b: &Value| add(a, b));
    env.add_function(MUL, |a: &Value, b: &Value| multiply(a, b));
    env.add_function(STORE, |namespace: &Value, value: Value| store(namespace, value));
    env.add_function(ITER, |value: Value| iterable(value));
    env.add_function(ITER_UNPACK, |value: Value, shape: Value| {
        let items = iterable(value)?.try_iter()?.map(|item| unpack(item, &shape)).collect::<Vec<_>>();
        Ok::<_, Error>(Value::from(items))
    });
    env.add_function(UNPACK, |value: Value, shape: Value| unpack(value, &shape));
    env.add_function(ATTR, |value: Value, name: &str| attribute(&value, name));
    env.add_function(PRIVATE_ATTR, |name: &str, _value: Value| -> Result<Value, Error> {
        Err(reject_private_attribute(name))
    });
}

// ---------------------------------------------------------------------------------------------
// `%`

/// Python's `a % b`.
pub fn modulo(a: &Value, b: &Value) -> Result<Value, Error> {
    if a.kind() == ValueKind::String {
        return percent_format(a.as_str().unwrap_or_default(), b).map(Value::from);
    }
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        if y == 0 {
            return Err(invalid_operation("ZeroDivisionError: integer modulo by zero"));
        }
        let r = x.checked_rem(y).unwrap_or(0);
        return Ok(Value::from(if r != 0 && (r < 0) != (y < 0) { r + y } else { r }));
    }
    match (float_of(a), float_of(b)) {
        (Some(x), Some(y)) => {
            if y == 0.0 {
                return Err(invalid_operation("ZeroDivisionError: float modulo"));
            }
            let mut r = x % y;
            if r != 0.0 {
                if (y < 0.0) != (r < 0.0) {
                    r += y;
                }
            } else {
                r = 0.0f64.copysign(y);
            }
            Ok(Value::from(r))
        }
        _ => Err(invalid_operation(format!(
            "unsupported operand type(s) for %: '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// `+` and `*`

/// `a + b`, with the size of a string or list it builds checked against the string limit
/// before it is built (minijinja bounds them only by fuel, about a gigabyte at the default).
fn add(a: &Value, b: &Value) -> Result<Value, Error> {
    if let (Some(left), Some(right)) = (plain_str(a), plain_str(b)) {
        crate::jinja::scope::check_string(left.len().saturating_add(right.len()), "+")?;
        return Ok(Value::from([left, right].concat()));
    }
    if is_list(a) && is_list(b) {
        if let (Some(left), Some(right)) = (a.len(), b.len()) {
            crate::jinja::scope::check_list(left.saturating_add(right), "+")?;
        }
    }
    minijinja_operator(MinijinjaOperator::Add, a, b)
}

/// `a * b`, sizes checked as in `add`.
fn multiply(a: &Value, b: &Value) -> Result<Value, Error> {
    for (repeated, count) in [(a, b), (b, a)] {
        let Some(count) = int_of(count).filter(|_| count.kind() == ValueKind::Number) else {
            continue;
        };
        let count = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
        if let Some(text) = repeated.as_str() {
            crate::jinja::scope::check_string(text.len().saturating_mul(count), "*")?;
        } else if is_list(repeated) {
            crate::jinja::scope::check_list(repeated.len().unwrap_or(0).saturating_mul(count), "*")?;
        }
    }
    minijinja_operator(MinijinjaOperator::Mul, a, b)
}

// ---------------------------------------------------------------------------------------------
// `{% set ns.x = value %}`

/// The most items `store` looks at for one assignment (a list of lists built by doubling would
/// otherwise take exponential time to check).
const MAX_STORED_ITEMS: usize = 1_000_000;

/// The value of `{% set ns.x = value %}`, checked first: it must not hold `namespace` itself
/// (jinja2 allows that, but comparing or hashing such a namespace would never end here), and it
/// must nest at most `MAX_NESTING` deep. Only namespaces let a template nest values without
/// bound or build a cycle: lists and dicts are immutable.
fn store(namespace: &Value, value: Value) -> Result<Value, Error> {
    if !is_container(&value) {
        return Ok(value);
    }
    let mut pending = vec![(value.clone(), 1usize)];
    let mut items_seen = 0usize;
    while let Some((item, depth)) = pending.pop() {
        if minijinja::tests::is_sameas(&item, namespace) {
            return Err(invalid_operation(
                "fastmask does not let a namespace hold itself (jinja2 does, but comparing it would never end)",
            ));
        }
        if depth > MAX_NESTING {
            return Err(crate::jinja::scope::reached(format!(
                "recursion limit: a value stored in a namespace is nested deeper than {MAX_NESTING}"
            )));
        }
        // At most as many items as the check allows, so one huge lazy list is not walked whole.
        let left = MAX_STORED_ITEMS.saturating_sub(items_seen) + 1;
        let mut push = |child: Value| {
            items_seen += 1;
            if is_container(&child) {
                pending.push((child, depth + 1));
            }
        };
        match item.kind() {
            ValueKind::Map => {
                for key in item.try_iter()?.take(left) {
                    push(item.get_item(&key).unwrap_or_default());
                    push(key);
                }
            }
            _ => item.try_iter()?.take(left).for_each(&mut push),
        }
        if items_seen > MAX_STORED_ITEMS {
            return Err(crate::jinja::scope::reached(format!(
                "size limit: a value stored in a namespace holds more than {MAX_STORED_ITEMS} items"
            )));
        }
    }
    Ok(value)
}

/// Values that hold other values; ranges hold only numbers.
fn is_container(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable)
        && value.downcast_object_ref::<crate::jinja::value::objects::PyRange>().is_none()
}

/// A string that is not marked safe (minijinja keeps the safe mark through `+`).
fn plain_str(value: &Value) -> Option<&str> {
    value.as_str().filter(|_| !value.is_safe())
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

#[derive(Clone, Copy)]
enum MinijinjaOperator {
    Add,
    Mul,
}

/// minijinja's own operator, for everything but the size checks: its semantics (numbers, wide
/// integers, tuples, lazy list concatenation, errors) are not public API, so the operator runs in
/// a one-expression evaluation of a plain environment with the same undefined behaviour.
fn minijinja_operator(operator: MinijinjaOperator, a: &Value, b: &Value) -> Result<Value, Error> {
    use std::sync::OnceLock;
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    static EXPRESSIONS: OnceLock<[minijinja::Expression<'static, 'static>; 2]> = OnceLock::new();
    let expressions = EXPRESSIONS.get_or_init(|| {
        let env = ENV.get_or_init(Environment::new);
        let compile = |source: &'static str| env.compile_expression(source).expect("a valid expression");
        [compile("a + b"), compile("a * b")]
    });
    let expression = &expressions[operator as usize];
    // The error keeps its kind and text; the line is the caller's, which minijinja adds.
    expression
        .eval(minijinja::context! { a => a.clone(), b => b.clone() })
        .map_err(|err| Error::new(err.kind(), err.detail().unwrap_or_default().to_string()))
}

// ---------------------------------------------------------------------------------------------
// Comparisons

fn compare(a: &Value, op: &str, b: &Value) -> Result<bool, Error> {
    Ok(match op {
        "==" => a == b,
        "!=" => a != b,
        "in" => contains(b, a)?,
        "not in" => !contains(b, a)?,
        _ => {
            let ordering = py_partial_cmp(a, b, op)?;
            match op {
                "<" => ordering == Some(Ordering::Less),
                "<=" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                ">" => ordering == Some(Ordering::Greater),
                ">=" => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                other => return Err(invalid_operation(format!("unknown comparison {other}"))),
            }
        }
    })
}

/// `a op1 b op2 c ...` given as `(a, "op1", b, "op2", c, ...)`: true when every link holds,
/// stopping at the first that does not (Python evaluates the operands eagerly here).
fn compare_chain(args: Rest<Value>) -> Result<bool, Error> {
    let args = &args.0;
    if args.len() < 3 || args.len().is_multiple_of(2) {
        return Err(invalid_operation("malformed comparison"));
    }
    for link in args.windows(3).step_by(2) {
        let op = link[1].as_str().unwrap_or_default();
        if !compare(&link[0], op, &link[2])? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Python's `needle in haystack`.
pub fn contains(haystack: &Value, needle: &Value) -> Result<bool, Error> {
    match haystack.kind() {
        ValueKind::String => match needle.as_str().filter(|_| needle.kind() == ValueKind::String) {
            Some(needle) => Ok(haystack.as_str().unwrap_or_default().contains(needle)),
            None => Err(invalid_operation(format!(
                "'in <string>' requires string as left operand, not {}",
                type_name(needle)
            ))),
        },
        // jinja2's Undefined iterates as empty.
        ValueKind::Undefined => Ok(false),
        ValueKind::Map if !is_namespace(haystack) => Ok(!haystack.get_item(needle)?.is_undefined()),
        ValueKind::Seq | ValueKind::Iterable => Ok(haystack.try_iter()?.any(|item| item == *needle)),
        _ => Err(invalid_operation(format!(
            "argument of type '{}' is not iterable",
            if is_namespace(haystack) { "Namespace" } else { type_name(haystack) }
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Loops and attributes

/// The iterable of a `for` loop: strings become a list of characters so the loop knows its
/// length; None, numbers and booleans are not iterable (minijinja loops over None as empty).
fn iterable(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            Ok(Value::from(text.chars().map(Value::from).collect::<Vec<_>>()))
        }
        ValueKind::None | ValueKind::Bool | ValueKind::Number => {
            Err(invalid_operation(format!("'{}' object is not iterable", type_name(&value))))
        }
        _ => Ok(value),
    }
}

/// A value about to be unpacked into a target of the given shape (see `rewrite::unpack_shape`):
/// strings become their characters, as Python unpacks them (minijinja refuses to); nested
/// targets are followed. Anything else is left for minijinja's own unpacking and its errors.
fn unpack(value: Value, shape: &Value) -> Value {
    let value = match value.kind() {
        ValueKind::String => {
            Value::from(value.as_str().unwrap_or_default().chars().map(Value::from).collect::<Vec<_>>())
        }
        _ => value,
    };
    let nested = shape.try_iter().map(|mut parts| parts.any(|part| part.kind() == ValueKind::Seq)).unwrap_or(false);
    if !nested || !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        return value;
    }
    let Ok(items) = value.try_iter() else { return value };
    let shapes: Vec<Value> = shape.try_iter().map(Iterator::collect).unwrap_or_default();
    let items: Vec<Value> = items
        .enumerate()
        .map(|(index, item)| match shapes.get(index) {
            Some(inner) if inner.kind() == ValueKind::Seq => unpack(item, inner),
            _ => item,
        })
        .collect();
    Value::from(items)
}

const STR_METHODS: &[&str] = &[
    "capitalize",
    "casefold",
    "center",
    "count",
    "encode",
    "endswith",
    "expandtabs",
    "find",
    "format",
    "format_map",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "maketrans",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "translate",
    "upper",
    "zfill",
];
const DICT_METHODS: &[&str] = &["copy", "fromkeys", "get", "items", "keys", "values"];
/// Methods that modify the object: jinja2's immutable sandbox hides them (an undefined value).
const UNSAFE_DICT_METHODS: &[&str] = &["clear", "pop", "popitem", "setdefault", "update"];
const LIST_METHODS: &[&str] = &["copy", "count", "index"];
const UNSAFE_LIST_METHODS: &[&str] = &["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"];
const TUPLE_METHODS: &[&str] = &["count", "index"];

/// Every attribute name that is a method of str, dict, list or tuple: `x.name` with one of these
/// names (not called) goes through [`attribute`].
pub fn is_method_name(name: &str) -> bool {
    [STR_METHODS, DICT_METHODS, UNSAFE_DICT_METHODS, LIST_METHODS, UNSAFE_LIST_METHODS]
        .iter()
        .any(|names| names.contains(&name))
}

/// jinja2's sandboxed `getattr(x, name)`: the method when `x`'s type has one by that name,
/// otherwise minijinja's attribute lookup (the item of a dict).
fn attribute(value: &Value, name: &str) -> Result<Value, Error> {
    let method = |owner_type| Ok(Value::from_object(PyMethod::new(value, owner_type, name)));
    match value.kind() {
        ValueKind::String if STR_METHODS.contains(&name) => method("str"),
        ValueKind::Map if !is_namespace(value) && DICT_METHODS.contains(&name) => method("dict"),
        ValueKind::Map if !is_namespace(value) && UNSAFE_DICT_METHODS.contains(&name) => Ok(Value::UNDEFINED),
        ValueKind::Seq if value.downcast_object_ref::<Tuple>().is_some() => match TUPLE_METHODS.contains(&name) {
            true => method("tuple"),
            false => value.get_attr(name),
        },
        ValueKind::Seq if LIST_METHODS.contains(&name) => method("list"),
        ValueKind::Seq if UNSAFE_LIST_METHODS.contains(&name) => Ok(Value::UNDEFINED),
        _ => value.get_attr(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulo_formats_strings_and_floors_numbers() {
        assert_eq!(modulo(&Value::from("<%s>"), &Value::from(5)).unwrap().to_string(), "<5>");
        assert_eq!(modulo(&Value::from(-7), &Value::from(3)).unwrap(), Value::from(2));
        assert_eq!(modulo(&Value::from(7), &Value::from(-3)).unwrap(), Value::from(-2));
        assert_eq!(f64::try_from(modulo(&Value::from(-7.5), &Value::from(2)).unwrap()).unwrap(), 0.5);
        assert!(modulo(&Value::from(1), &Value::from(0)).is_err());
        assert!(modulo(&Value::from(vec![1]), &Value::from(2)).is_err());
    }

    #[test]
    fn containment_like_python() {
        assert!(contains(&Value::from("cat"), &Value::from("a")).unwrap());
        assert!(contains(&Value::from("abc"), &Value::from(1)).is_err());
        assert!(contains(&Value::from(5), &Value::from(1)).is_err());
        assert!(!contains(&Value::UNDEFINED, &Value::from(1)).unwrap());
        assert!(contains(&Value::from_pairs([("k", ())]), &Value::from("k")).unwrap());
        assert!(contains(&Value::from(vec![1.0]), &Value::from(1)).unwrap());
    }

    #[test]
    fn attributes_that_name_methods() {
        let map = Value::from_pairs([("items", 1), ("a", 2)]);
        assert!(attribute(&map, "items").unwrap().downcast_object_ref::<PyMethod>().is_some());
        assert!(attribute(&map, "update").unwrap().is_undefined());
        assert_eq!(attribute(&map, "a").unwrap(), Value::from(2));
        assert!(attribute(&Value::from("s"), "upper").unwrap().downcast_object_ref::<PyMethod>().is_some());
        assert!(attribute(&Value::UNDEFINED, "items").is_err());
    }
}
