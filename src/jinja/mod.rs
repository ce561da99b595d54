//! transformers' jinja2 semantics on minijinja: the environment transformers renders chat
//! templates in, the source rewrites that give minijinja jinja2's meaning (the generation tag,
//! operators), Python values (types, objects, comparison, printing, JSON, formatting), filters
//! and methods, and the render that records generation spans.

mod environment;
mod filters;
mod methods;
mod operators;
mod render;
mod scope;
mod source;
mod value;

pub use environment::Clock;
pub use render::{ChatTemplate, Rendered, Span};
pub use value::types::dict_pairs;
