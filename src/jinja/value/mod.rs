//! Python values as templates see them through jinja2. Each layer uses only the ones listed
//! before it: `types` (type names, namespaces), `objects` (dict views, bound methods, range,
//! namespace, cycler, joiner), `compare` (ordering), `print` (`str()` / `repr()`), `json`
//! (`tojson`), `format` (`%` and `str.format`).

pub mod compare;
pub mod format;
pub mod json;
pub mod objects;
pub mod print;
pub mod types;
