//! Python's ordering of values, for comparison operators, `sort`, `min`/`max` and `sort_keys`.

use std::cmp::Ordering;

use minijinja::value::{Value, ValueKind};
use minijinja::Error;

use super::types::{invalid_operation, type_name};

pub fn int_of(value: &Value) -> Option<i128> {
    match value.kind() {
        ValueKind::Bool => Some(value.is_true() as i128),
        ValueKind::Number if value.is_integer() => i128::try_from(value.clone()).ok(),
        _ => None,
    }
}

pub fn float_of(value: &Value) -> Option<f64> {
    match value.kind() {
        ValueKind::Bool => Some(value.is_true() as u8 as f64),
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        _ => None,
    }
}

/// Python's ordering of two values: numbers with numbers, strings with strings, lists with lists
/// and tuples with tuples (item by item); anything else is a `TypeError`. `None` for NaN.
pub fn py_partial_cmp(a: &Value, b: &Value, op: &str) -> Result<Option<Ordering>, Error> {
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        return Ok(Some(x.cmp(&y)));
    }
    if let (Some(x), Some(y)) = (float_of(a), float_of(b)) {
        return Ok(x.partial_cmp(&y));
    }
    let unsupported = || {
        invalid_operation(format!(
            "'{op}' not supported between instances of '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))
    };
    match (a.kind(), b.kind()) {
        (ValueKind::String, ValueKind::String) => Ok(Some(a.as_str().cmp(&b.as_str()))),
        (ValueKind::Seq, ValueKind::Seq) if type_name(a) == type_name(b) => {
            let xs: Vec<Value> = a.try_iter()?.collect();
            let ys: Vec<Value> = b.try_iter()?.collect();
            for (x, y) in xs.iter().zip(&ys) {
                if x != y {
                    return py_partial_cmp(x, y, op);
                }
            }
            Ok(Some(xs.len().cmp(&ys.len())))
        }
        _ => Err(unsupported()),
    }
}

/// A total order for sorting (NaN compares equal), failing on unrelated types.
pub fn py_cmp(a: &Value, b: &Value) -> Result<Ordering, Error> {
    Ok(py_partial_cmp(a, b, "<")?.unwrap_or(Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use minijinja::value::Tuple;

    use super::*;

    #[test]
    fn ordering_refuses_unrelated_types() {
        assert!(py_partial_cmp(&Value::from(1), &Value::from("a"), "<").is_err());
        assert!(py_partial_cmp(&Value::from(()), &Value::from(1), "<").is_err());
        assert_eq!(py_cmp(&Value::from(true), &Value::from(2)).unwrap(), Ordering::Less);
        assert_eq!(py_cmp(&Value::from(vec![1, 2]), &Value::from(vec![1, 3])).unwrap(), Ordering::Less);
        assert_eq!(py_cmp(&Value::from("b"), &Value::from("ab")).unwrap(), Ordering::Greater);
        assert!(py_cmp(&Value::from(vec![1]), &Value::from(Tuple::from(vec![Value::from(1)]))).is_err());
    }
}
