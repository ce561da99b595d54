//! Python objects templates can reach through jinja2 that minijinja has no equivalent for:
//! dict views (`d.items()`), bound methods (`d.items` without a call), `namespace` with
//! transformers' `_`-name rejection, transformers' restricted `dict`, `joiner` and `cycler`, and
//! the generators jinja2's `map`, `select`, `reject`, `selectattr` and `rejectattr` return.

use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{from_args, Enumerator, Kwargs, Object, ObjectRepr, Rest, Tuple, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::types::type_name;

/// Which view of a dict: `keys()`, `values()` or `items()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Keys,
    Values,
    Items,
}

/// `dict.keys()` / `values()` / `items()`: iterable and sized, printed as `dict_items([...])`;
/// items are `(key, value)` tuples.
#[derive(Debug)]
pub struct DictView {
    kind: ViewKind,
    items: Vec<Value>,
}

impl DictView {
    pub fn new(map: &Value, kind: ViewKind) -> Result<Self, Error> {
        let mut items = Vec::new();
        for key in map.try_iter()? {
            items.push(match kind {
                ViewKind::Keys => key,
                ViewKind::Values => map.get_item(&key)?,
                ViewKind::Items => {
                    let value = map.get_item(&key)?;
                    Value::from(Tuple::from([key, value]))
                }
            });
        }
        Ok(DictView { kind, items })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ViewKind::Keys => "dict_keys",
            ViewKind::Values => "dict_values",
            ViewKind::Items => "dict_items",
        }
    }

    /// The view's items, printed inside `dict_items(...)`.
    pub fn items(&self) -> Vec<Value> {
        self.items.clone()
    }
}

impl Object for DictView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        // Iterable, not Seq: a view cannot be indexed (`d.keys()[0]` fails in Python).
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items.clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.items.is_empty()
    }
}

/// A method read without calling it (`d.items`, `s.upper`): what jinja2 returns for an attribute
/// that names a method of the value's type. Truthy, defined, callable, and has no attributes.
#[derive(Debug)]
pub struct PyMethod {
    owner: Value,
    owner_type: &'static str,
    name: String,
}

impl PyMethod {
    pub fn new(owner: &Value, owner_type: &'static str, name: &str) -> Self {
        PyMethod { owner: owner.clone(), owner_type, name: name.to_string() }
    }

    /// Python adds the object's address, which no other engine can reproduce.
    pub fn write_repr(&self, out: &mut String) {
        out.push_str(&format!("<built-in method {} of {} object>", self.name, self.owner_type));
    }
}

impl Object for PyMethod {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        self.owner.call_method(state, &self.name, args)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_repr(&mut out);
        f.write_str(&out)
    }
}

fn security_error(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "SecurityError: Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name:?}. \
             Please rename the attribute."
        ),
    )
}

/// transformers' `TemplateNamespace`: jinja2's namespace, rejecting `_`-prefixed names.
pub fn namespace(positional: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let initial = dict(positional, &kwargs)?;
    for key in initial.try_iter()? {
        if key.as_str().is_some_and(|name| name.starts_with('_')) {
            return Err(security_error(key.as_str().unwrap_or_default()));
        }
    }
    minijinja::functions::namespace(Some(minijinja::value::ValueOrKwargs::from(initial)))
}

/// The value of `{% set ns._name = value %}`, which transformers' namespace refuses to store.
pub fn reject_private_attribute(name: &str) -> Error {
    security_error(name)
}

/// `dict(*args, **kwargs)`: a mapping or an iterable of pairs, updated by the keyword arguments.
pub fn dict(positional: &[Value], kwargs: &Kwargs) -> Result<Value, Error> {
    if positional.len() > 1 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("dict expected at most 1 argument, got {}", positional.len()),
        ));
    }
    let mut pairs: Vec<(Value, Value)> = Vec::new();
    let mut insert = |key: Value, value: Value| match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => pairs.push((key, value)),
    };
    if let Some(source) = positional.first() {
        if source.kind() == ValueKind::Map {
            for key in source.try_iter()? {
                let value = source.get_item(&key)?;
                insert(key, value);
            }
        } else {
            for (index, item) in source.try_iter()?.enumerate() {
                let pair: Vec<Value> = item.try_iter().map(Iterator::collect).unwrap_or_default();
                let [key, value] = <[Value; 2]>::try_from(pair).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("dictionary update sequence element #{index} has the wrong length; 2 is required"),
                    )
                })?;
                insert(key, value);
            }
        }
    }
    for name in kwargs.args() {
        insert(Value::from(name), kwargs.get::<Value>(name)?);
    }
    kwargs.assert_all_used()?;
    Ok(Value::from_pairs(pairs))
}

/// The `dict` global: callable as `dict(...)`, with `dict.fromkeys(keys, value=None)`.
#[derive(Debug)]
pub struct DictGlobal;

impl Object for DictGlobal {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs): (Rest<Value>, Kwargs) = from_args(args)?;
        dict(&positional, &kwargs)
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "fromkeys" => {
                let (keys, value): (Value, Option<Value>) = from_args(args)?;
                fromkeys(&keys, value.unwrap_or(Value::from(())))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `dict.fromkeys(keys, value)`.
pub fn fromkeys(keys: &Value, value: Value) -> Result<Value, Error> {
    let mut pairs: Vec<(Value, Value)> = Vec::new();
    for key in keys.try_iter()? {
        if !pairs.iter().any(|(k, _)| *k == key) {
            pairs.push((key, value.clone()));
        }
    }
    Ok(Value::from_pairs(pairs))
}

/// jinja2's `joiner(sep=", ")`: returns "" the first time it is called, then `sep`.
#[derive(Debug)]
pub struct Joiner {
    separator: String,
    used: Mutex<bool>,
}

impl Joiner {
    pub fn new(separator: Option<&str>) -> Self {
        Joiner { separator: separator.unwrap_or(", ").to_string(), used: Mutex::new(false) }
    }
}

impl Object for Joiner {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let () = from_args(args)?;
        let mut used = self.used.lock().map_err(|_| Error::new(ErrorKind::InvalidOperation, "joiner poisoned"))?;
        let out = if *used { self.separator.as_str() } else { "" };
        *used = true;
        Ok(Value::from(out))
    }
}

/// jinja2's `cycler(*items)`: `next()`, `current` and `reset()`.
#[derive(Debug)]
pub struct Cycler {
    items: Vec<Value>,
    position: Mutex<usize>,
}

impl Cycler {
    pub fn new(items: Vec<Value>) -> Result<Self, Error> {
        if items.is_empty() {
            return Err(Error::new(ErrorKind::InvalidOperation, "at least one item has to be provided"));
        }
        Ok(Cycler { items, position: Mutex::new(0) })
    }

    fn position(&self) -> Result<std::sync::MutexGuard<'_, usize>, Error> {
        self.position.lock().map_err(|_| Error::new(ErrorKind::InvalidOperation, "cycler poisoned"))
    }
}

impl Object for Cycler {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "current" => self.position().ok().map(|at| self.items[*at].clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["current"])
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let () = from_args(args)?;
        let mut at = self.position()?;
        match method {
            "next" => {
                let item = self.items[*at].clone();
                *at = (*at + 1) % self.items.len();
                Ok(item)
            }
            "reset" => {
                *at = 0;
                Ok(Value::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Python's `range`, capped as jinja2's sandbox caps it: a sized sequence printed `range(0, 3)`.
#[derive(Debug)]
pub struct PyRange {
    start: i64,
    stop: i64,
    step: i64,
    len: usize,
}

/// jinja2's sandbox refuses ranges longer than this (`MAX_RANGE`).
const MAX_RANGE: usize = 100_000;

impl PyRange {
    pub fn new(args: &[Value]) -> Result<Self, Error> {
        let ints = args
            .iter()
            .map(|v| match v.kind() {
                ValueKind::Bool => Ok(v.is_true() as i64),
                ValueKind::Number if v.is_integer() => {
                    v.as_i64().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "range argument is too large"))
                }
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("'{}' object cannot be interpreted as an integer", type_name(v)),
                )),
            })
            .collect::<Result<Vec<i64>, Error>>()?;
        let (start, stop, step) = match ints[..] {
            [stop] => (0, stop, 1),
            [start, stop] => (start, stop, 1),
            [start, stop, step] => (start, stop, step),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("range expected 1 to 3 arguments, got {}", ints.len()),
                ))
            }
        };
        if step == 0 {
            return Err(Error::new(ErrorKind::InvalidOperation, "range() arg 3 must not be zero"));
        }
        let span = if step > 0 { stop as i128 - start as i128 } else { start as i128 - stop as i128 };
        let len = if span <= 0 { 0 } else { ((span - 1) / (step as i128).abs() + 1) as u128 };
        if len > MAX_RANGE as u128 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MAX_RANGE})."),
            ));
        }
        Ok(PyRange { start, stop, step, len: len as usize })
    }

    pub fn write_repr(&self, out: &mut String) {
        match self.step {
            1 => out.push_str(&format!("range({}, {})", self.start, self.stop)),
            step => out.push_str(&format!("range({}, {}, {step})", self.start, self.stop)),
        }
    }
}

impl Object for PyRange {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let index = key.as_i64().filter(|_| key.is_integer())?;
        let index = if index < 0 { index + self.len as i64 } else { index };
        (0..self.len as i64).contains(&index).then(|| Value::from(self.start + index * self.step))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.len)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len)
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.len > 0
    }
}

/// What jinja2's `map` (`sync_do_map`) and `select`/`reject`/`selectattr`/`rejectattr`
/// (`select_or_reject`) return: a Python generator. It yields its items once (a second loop over
/// it sees nothing), is true even when empty, has no length, is not JSON serializable, and prints
/// as `<generator object NAME at 0x...>`. jinja2 prints the object's address there; fastmask
/// prints a fixed one, so a render is the same every time.
#[derive(Debug)]
pub struct Generator {
    function: &'static str,
    items: Mutex<Option<Vec<Value>>>,
}

impl Generator {
    /// The address printed for every generator.
    const ADDRESS: &'static str = "0x7f0000000000";

    pub fn new_value(function: &'static str, items: Vec<Value>) -> Value {
        Value::from_object(Generator { function, items: Mutex::new(Some(items)) })
    }

    /// The items not yet yielded, which are yielded now.
    fn take(&self) -> Vec<Value> {
        self.items.lock().map(|mut items| items.take().unwrap_or_default()).unwrap_or_default()
    }

    /// Python's `repr()`.
    pub fn write_repr(&self, out: &mut String) {
        out.push_str("<generator object ");
        out.push_str(self.function);
        out.push_str(" at ");
        out.push_str(Self::ADDRESS);
        out.push('>');
    }
}

impl Object for Generator {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.take())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        None
    }

    /// A generator cannot be indexed: `g[0]` is undefined in jinja2 (minijinja would walk it).
    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::UNDEFINED)
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_repr(&mut out);
        f.write_str(&out)
    }
}

/// A generator's remaining items as a list (consuming them), any other value as it is: for the
/// filters that iterate their input more than once.
pub fn materialized(value: Value) -> Value {
    match value.downcast_object_ref::<Generator>() {
        Some(generator) => Value::from(generator.take()),
        None => value,
    }
}

/// jinja2's `groupby` item: a `(grouper, list)` tuple with those two attribute names.
#[derive(Debug)]
pub struct GroupTuple {
    pub grouper: Value,
    pub list: Value,
}

impl Object for GroupTuple {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match (key.as_str(), key.as_i64()) {
            (Some("grouper"), _) | (_, Some(0 | -2)) => Some(self.grouper.clone()),
            (Some("list"), _) | (_, Some(1 | -1)) => Some(self.list.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(2)
    }
}

/// A tuple's items when the value prints as a Python tuple.
pub fn tuple_items(value: &Value) -> Option<Vec<Value>> {
    if let Some(tuple) = value.downcast_object_ref::<Tuple>() {
        return Some(tuple.to_vec());
    }
    value.downcast_object_ref::<GroupTuple>().map(|g| vec![g.grouper.clone(), g.list.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::environment::{hf_environment, Clock};
    use minijinja::context;

    fn render(source: &str, ctx: Value) -> Result<String, Error> {
        hf_environment(Clock::Local).render_str(source, ctx)
    }

    #[test]
    fn dict_views_print_and_iterate_like_python() {
        let ctx = context! { d => Value::from_pairs([("a", 1)]) };
        assert_eq!(
            render("{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}", ctx.clone()).unwrap(),
            "dict_items([('a', 1)])|dict_keys(['a'])|dict_values([1])"
        );
        assert_eq!(render("{% for k, v in d.items() %}{{ k }}{{ v }}{{ loop.length }}{% endfor %}{{ d.items()|list }}{{ 'a' in d.keys() }}", ctx).unwrap(), "a11[('a', 1)]True");
    }

    #[test]
    fn namespace_rejects_private_names_and_prints_like_jinja2() {
        assert!(render("{% set ns = namespace(_a=1) %}", context! {}).is_err());
        assert!(render("{% set ns = namespace({'_a': 1}) %}", context! {}).is_err());
        assert_eq!(
            render("{% set ns = namespace(a=1) %}{{ ns }}{{ ns is mapping }}", context! {}).unwrap(),
            "<Namespace {'a': 1}>False"
        );
        assert!(render("{{ namespace(a=1)|tojson }}", context! {}).is_err());
    }

    #[test]
    fn dict_global_accepts_pairs_mappings_and_keywords() {
        assert_eq!(
            render(
                "{{ dict([('a', 1)], b=2) }}{{ dict({'a': 1}) }}{{ dict() }}{{ dict.fromkeys(['x', 'y'], 0) }}",
                context! {}
            )
            .unwrap(),
            "{'a': 1, 'b': 2}{'a': 1}{}{'x': 0, 'y': 0}"
        );
        assert!(render("{{ dict(1, 2) }}", context! {}).is_err());
    }

    #[test]
    fn groupby_items_are_named_tuples() {
        let ctx = context! { xs => vec![Value::from_pairs([("a", 2)]), Value::from_pairs([("a", 1)]), Value::from_pairs([("a", 2)])] };
        assert_eq!(
            render("{{ xs|groupby('a') }}", ctx.clone()).unwrap(),
            "[(1, [{'a': 1}]), (2, [{'a': 2}, {'a': 2}])]"
        );
        assert_eq!(render("{% for k, v in xs|groupby('a') %}{{ k }}{{ v|length }}{% endfor %}{% for g in xs|groupby('a') %}{{ g.grouper }}{{ g.list|length }}{% endfor %}", ctx).unwrap(), "11221122");
    }

    #[test]
    fn range_is_a_sized_sequence_printed_like_python() {
        assert_eq!(render("{{ range(3) }}{{ range(1, 7, 2)|list }}{{ range(5, 0, -2)|list }}{{ range(3)|length }}{{ range(4)[-1] }}{{ range(2) is sequence }}", context! {}).unwrap(), "range(0, 3)[1, 3, 5][5, 3, 1]33True");
        assert!(render("{{ range(200000) }}", context! {}).is_err());
        assert!(render("{{ range(0, 3, 0) }}", context! {}).is_err());
        assert!(render("{{ range(1.5) }}", context! {}).is_err());
    }

    #[test]
    fn joiner_and_cycler() {
        assert_eq!(
            render("{% set j = joiner('|') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", context! {})
                .unwrap(),
            "1|2|3"
        );
        assert_eq!(render("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{{ c.reset() }}{{ c.current }}", context! {}).unwrap(), "ababNonea");
    }
}
