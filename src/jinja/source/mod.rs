//! Source-to-source rewrites applied before minijinja compiles a template: the generation tag
//! (which minijinja cannot parse) becomes a call block, and operators, literals and constructs
//! minijinja reads differently from jinja2 become calls with jinja2's meaning.

pub mod generation;
pub mod semantics;
