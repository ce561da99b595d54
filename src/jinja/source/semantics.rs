//! A source-to-source rewrite, guided by minijinja's own parser, that gives a template jinja2's
//! meaning where minijinja's differs and has no hook (see `operators.rs` for the semantics):
//!
//! - `a % b`, `a ~ b`, ordering comparisons and `in` become calls of `__fm_*` functions;
//! - `for x in xs` iterates `__fm_iter(xs)`; `x.items` (a method name, not called) becomes
//!   `__fm_attr(x, 'items')`; `{% set ns._x = v %}` fails when run, as transformers' namespace does;
//! - string literals are decoded as Python decodes them (`'\/'`, `'\U0001F600'`, `'\a'`);
//! - constructs jinja2 rejects at compile time are rejected here too: `{% do %}` (transformers
//!   does not enable the extension) and filters or tests jinja2 does not have (outside `if`
//!   branches, where jinja2 defers the check to run time); jinja2 filters fastmask does not
//!   implement are rejected with their name and line.
//!
//! Edits only insert text at expression boundaries and replace operator tokens and literals, so
//! line numbers stay as written.

use std::collections::HashMap;

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::{parse, tokenize, Span, Token};
use minijinja::syntax::SyntaxConfig;

use crate::jinja::operators::{self, is_method_name};

/// Filters jinja2 3.1 has (plus transformers' `tojson`).
const JINJA2_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "capitalize",
    "center",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "filesizeformat",
    "first",
    "float",
    "forceescape",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "random",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "string",
    "striptags",
    "sum",
    "title",
    "tojson",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
];
/// jinja2 filters fastmask does not reproduce (random output, HTML handling, text wrapping).
const UNSUPPORTED_FILTERS: &[&str] = &["pprint", "random", "striptags", "urlize", "wordwrap"];
/// Tests jinja2 3.1 has.
const JINJA2_TESTS: &[&str] = &[
    "!=",
    "<",
    "<=",
    "==",
    ">",
    ">=",
    "boolean",
    "callable",
    "defined",
    "divisibleby",
    "eq",
    "equalto",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sameas",
    "sequence",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// A construct jinja2 rejects when compiling, or that fastmask cannot render like jinja2.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected {
    pub message: String,
    pub line: usize,
}

/// Rewrites `source`; a source minijinja cannot parse is returned unchanged, for the compiler
/// to report its syntax error.
pub fn rewrite_for_jinja2(source: &str, syntax: &SyntaxConfig) -> Result<String, Rejected> {
    let Ok(tokens) = tokenize(source, false, syntax.clone()).collect::<Result<Vec<_>, _>>() else {
        return Ok(source.to_string());
    };
    let Ok(tree) = parse(source, "chat_template", syntax.clone()) else {
        return Ok(source.to_string());
    };
    let mut rewriter = Rewriter::new(source, &tokens);
    rewriter.literals(&tokens)?;
    rewriter.stmt(&tree, false)?;
    rewriter.apply()
}

/// One text edit. Inserts at the same position are ordered so that the text of an outer call
/// encloses the inner one.
struct Edit {
    start: usize,
    end: usize,
    text: String,
    phase: u8,
    sequence: usize,
}

const CLOSE: u8 = 0;
const OPEN: u8 = 1;
const REPLACE: u8 = 2;

struct Rewriter<'s> {
    source: &'s str,
    /// (start, end, is_open_paren / is_close_paren) of every token, in order.
    token_spans: Vec<(usize, usize)>,
    by_start: HashMap<usize, usize>,
    by_end: HashMap<usize, usize>,
    /// Index of the matching parenthesis for every `(` and `)` token.
    paren_match: HashMap<usize, usize>,
    edits: Vec<Edit>,
    sequence: usize,
    /// Offsets of `varargs` / `kwargs` read as variables (not attributes).
    variadic_reads: Vec<(usize, &'static str)>,
}

fn offsets(span: Span) -> (usize, usize) {
    (span.start_offset as usize, span.end_offset as usize)
}

fn union(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    (a.0.min(b.0), a.1.max(b.1))
}

fn reject(message: impl Into<String>, span: Span) -> Rejected {
    Rejected { message: message.into(), line: span.start_line as usize }
}

impl<'s> Rewriter<'s> {
    fn new(source: &'s str, tokens: &[(Token<'_>, Span)]) -> Self {
        let token_spans: Vec<(usize, usize)> = tokens.iter().map(|(_, span)| offsets(*span)).collect();
        let by_start = token_spans.iter().enumerate().map(|(i, s)| (s.0, i)).collect();
        let by_end = token_spans.iter().enumerate().map(|(i, s)| (s.1, i)).collect();
        let mut paren_match = HashMap::new();
        let mut open = Vec::new();
        let mut variadic_reads = Vec::new();
        for (index, (token, span)) in tokens.iter().enumerate() {
            let after_dot = index > 0 && matches!(tokens[index - 1].0, Token::Dot);
            match token {
                Token::Ident(name @ ("varargs" | "kwargs")) if !after_dot => variadic_reads
                    .push((span.start_offset as usize, if *name == "varargs" { "varargs" } else { "kwargs" })),
                Token::ParenOpen => open.push(index),
                Token::ParenClose => {
                    if let Some(start) = open.pop() {
                        paren_match.insert(start, index);
                        paren_match.insert(index, start);
                    }
                }
                _ => {}
            }
        }
        Rewriter { source, token_spans, by_start, by_end, paren_match, edits: Vec::new(), sequence: 0, variadic_reads }
    }

    // -- extents ------------------------------------------------------------------------------

    /// Grows an extent over parentheses that enclose exactly it: `(a)` for `a`.
    fn widen(&self, (mut start, mut end): (usize, usize)) -> (usize, usize) {
        loop {
            let (Some(&first), Some(&last)) = (self.by_start.get(&start), self.by_end.get(&end)) else {
                return (start, end);
            };
            let (Some(before), after) = (first.checked_sub(1), last + 1) else {
                return (start, end);
            };
            if self.paren_match.get(&before) != Some(&after) || !self.is_open_paren(before) {
                return (start, end);
            }
            start = self.token_spans[before].0;
            end = self.token_spans[after].1;
        }
    }

    fn is_open_paren(&self, index: usize) -> bool {
        self.source[self.token_spans[index].0..].starts_with('(')
    }

    /// The source range of an expression, including parentheses around its operands. Spans of
    /// comparison nodes start at the previous token in minijinja, so those use their operands.
    fn extent(&self, expr: &Expr<'_>) -> (usize, usize) {
        let child = |e: &Expr<'_>| self.widen(self.extent(e));
        match expr {
            Expr::Var(_) | Expr::Const(_) | Expr::List(_) | Expr::Map(_) => offsets(expr.span()),
            Expr::Tuple(t) => t.items.iter().fold(offsets(t.span()), |acc, item| union(acc, child(item))),
            Expr::BinOp(b) => union(child(&b.left), child(&b.right)),
            Expr::Compare(c) => c.ops.iter().fold(child(&c.expr), |acc, op| union(acc, child(&op.expr))),
            Expr::UnaryOp(u) => {
                let inner = child(&u.expr);
                let (start, _) = offsets(u.span());
                let token_before = self.by_start.get(&inner.0).and_then(|i| i.checked_sub(1));
                let own_token = token_before.is_some_and(|i| self.token_spans[i].0 == start);
                if own_token {
                    (start, inner.1)
                } else {
                    inner
                }
            }
            Expr::IfExpr(i) => {
                let mut range = union(child(&i.true_expr), child(&i.test_expr));
                if let Some(false_expr) = &i.false_expr {
                    range = union(range, child(false_expr));
                }
                range
            }
            Expr::Filter(f) => match &f.expr {
                Some(inner) => union(offsets(f.span()), child(inner)),
                None => offsets(f.span()),
            },
            Expr::Test(t) => union(offsets(t.span()), child(&t.expr)),
            Expr::GetAttr(g) => union(offsets(g.span()), child(&g.expr)),
            Expr::GetItem(g) => union(offsets(g.span()), child(&g.expr)),
            Expr::Slice(s) => union(offsets(s.span()), child(&s.expr)),
            Expr::Call(c) => union(offsets(c.span()), child(&c.expr)),
        }
    }

    // -- edits --------------------------------------------------------------------------------

    fn next_sequence(&mut self) -> usize {
        self.sequence += 1;
        self.sequence
    }

    fn insert(&mut self, at: usize, text: impl Into<String>, phase: u8, sequence: usize) {
        self.edits.push(Edit { start: at, end: at, text: text.into(), phase, sequence });
    }

    fn replace(&mut self, (start, end): (usize, usize), text: impl Into<String>) {
        self.edits.push(Edit { start, end, text: text.into(), phase: REPLACE, sequence: 0 });
    }

    /// `opening` before the expression at `range` and `)` after it: a call around it.
    fn wrap(&mut self, range: (usize, usize), opening: String) {
        let sequence = self.next_sequence();
        self.insert(range.0, opening, OPEN, sequence);
        self.insert(range.1, ")", CLOSE, sequence);
    }

    /// `function(operand0 <sep0> operand1 ...)`, each gap between operands replaced by `separators`.
    fn wrap_operands(&mut self, function: &str, operands: &[(usize, usize)], separators: &[String]) {
        let sequence = self.next_sequence();
        let first = operands[0].0;
        let last = operands[operands.len() - 1].1;
        self.insert(first, format!("{function}("), OPEN, sequence);
        for (pair, separator) in operands.windows(2).zip(separators) {
            self.replace((pair[0].1, pair[1].0), separator.clone());
        }
        self.insert(last, ")", CLOSE, sequence);
    }

    /// The operator text between two operands, whitespace-normalised (`not in`).
    fn gap(&self, left: (usize, usize), right: (usize, usize)) -> String {
        self.source.get(left.1..right.0).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn apply(mut self) -> Result<String, Rejected> {
        self.edits.sort_by_key(|e| {
            let order = if e.phase == CLOSE { usize::MAX - e.sequence } else { e.sequence };
            (e.start, e.phase, order)
        });
        let mut out = String::with_capacity(self.source.len() + self.edits.len() * 12);
        let mut cursor = 0;
        for edit in &self.edits {
            if edit.start < cursor {
                return Err(Rejected {
                    message: "fastmask could not rewrite this expression (overlapping edits); please report it".into(),
                    line: self.source[..edit.start].matches('\n').count() + 1,
                });
            }
            out.push_str(&self.source[cursor..edit.start]);
            out.push_str(&edit.text);
            cursor = edit.end;
        }
        out.push_str(&self.source[cursor..]);
        Ok(out)
    }

    // -- string literals ----------------------------------------------------------------------

    /// Re-spells every string literal whose Python value differs from minijinja's decoding.
    fn literals(&mut self, tokens: &[(Token<'_>, Span)]) -> Result<(), Rejected> {
        for (token, span) in tokens {
            let decoded: &str = match token {
                Token::Str(text) => text,
                Token::String(text) => text,
                Token::Int(_) | Token::Int128(_) | Token::Float(_) => {
                    let (start, end) = offsets(*span);
                    let raw = &self.source[start..end];
                    if !is_jinja2_number(raw) {
                        return Err(reject(format!("jinja2 does not read {raw:?} as a number"), *span));
                    }
                    continue;
                }
                _ => continue,
            };
            let (start, end) = offsets(*span);
            let raw = &self.source[start..end];
            if !raw.contains('\\') || raw.len() < 2 {
                continue;
            }
            let python = python_unescape(&raw[1..raw.len() - 1]).map_err(|message| reject(message, *span))?;
            if python != decoded {
                let newlines = "\n".repeat(raw.matches('\n').count());
                self.replace((start, end), format!("{}{newlines}", minijinja_literal(&python)));
            }
        }
        Ok(())
    }

    // -- statements ---------------------------------------------------------------------------

    fn body(&mut self, stmts: &[Stmt<'_>], soft: bool) -> Result<(), Rejected> {
        stmts.iter().try_for_each(|stmt| self.stmt(stmt, soft))
    }

    /// `soft` is jinja2's "soft frame": inside `if` branches and conditional expressions, but not
    /// in a loop, macro, call or filter body below them; there unknown filters fail only when run.
    fn stmt(&mut self, stmt: &Stmt<'_>, soft: bool) -> Result<(), Rejected> {
        match stmt {
            Stmt::Template(t) => self.body(&t.children, soft),
            Stmt::EmitExpr(e) => self.expr(&e.expr, soft),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Ok(()),
            Stmt::ForLoop(f) => {
                self.expr(&f.iter, soft)?;
                let iter = self.widen(self.extent(&f.iter));
                match unpack_shape(&f.target) {
                    Some(shape) => self.wrap_with_shape(operators::ITER_UNPACK, iter, &shape),
                    None => self.wrap_operands(operators::ITER, &[iter], &[]),
                }
                self.target(&f.target, false)?;
                if let Some(filter) = &f.filter_expr {
                    self.expr(filter, false)?;
                }
                self.body(&f.body, false)?;
                self.body(&f.else_body, false)
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr, true)?;
                self.body(&i.true_body, true)?;
                self.body(&i.false_body, true)
            }
            Stmt::WithBlock(w) => {
                for (target, value) in &w.assignments {
                    self.target(target, soft)?;
                    self.expr(value, soft)?;
                    self.unpack_strings(target, value);
                }
                self.body(&w.body, false)
            }
            Stmt::Set(s) => {
                self.target(&s.target, soft)?;
                // The wrapping call is placed first, so it encloses the value's own rewrites.
                if let Expr::GetAttr(attr) = &s.target {
                    let value = self.widen(self.extent(&s.expr));
                    if attr.name.starts_with('_') {
                        self.wrap(value, format!("{}('{}', ", operators::PRIVATE_ATTR, attr.name));
                    } else if static_kind(&s.expr) == Static::Unknown && !matches!(s.expr, Expr::Const(_)) {
                        // `{% set ns.x = value %}` becomes `{% set ns.x = __fm_store(ns, value) %}`:
                        // a namespace is the one value a template can nest without bound or put
                        // inside itself, which minijinja's comparisons would recurse through.
                        let namespace = self.widen(self.extent(&attr.expr));
                        let namespace_source = self.source.get(namespace.0..namespace.1).unwrap_or("none").to_string();
                        self.wrap(value, format!("{}({namespace_source}, ", operators::STORE));
                    }
                }
                self.expr(&s.expr, soft)?;
                self.unpack_strings(&s.target, &s.expr);
                Ok(())
            }
            Stmt::SetBlock(s) => {
                self.target(&s.target, soft)?;
                if let Some(filter) = &s.filter {
                    self.expr(filter, false)?;
                }
                self.body(&s.body, false)
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled, soft)?;
                self.body(&a.body, soft)
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter, false)?;
                self.body(&f.body, false)
            }
            Stmt::Block(b) => self.body(&b.body, soft),
            Stmt::Extends(e) => self.expr(&e.name, soft),
            Stmt::Include(i) => self.expr(&i.name, soft),
            Stmt::Import(i) => self.expr(&i.expr, soft),
            Stmt::FromImport(i) => self.expr(&i.expr, soft),
            Stmt::Macro(m) => {
                self.reject_variadic(m)?;
                self.macro_decl(m, soft)
            }
            Stmt::CallBlock(c) => {
                self.call(&c.call, soft)?;
                self.macro_decl(&c.macro_decl, soft)
            }
            Stmt::Do(d) => Err(reject("Encountered unknown tag 'do'.", d.span())),
        }
    }

    /// `function(<range>, shape)`.
    fn wrap_with_shape(&mut self, function: &str, range: (usize, usize), shape: &str) {
        let sequence = self.next_sequence();
        // Parenthesised: the value may be a bare tuple (`{% set a, b = 1, 2 %}`).
        self.insert(range.0, format!("{function}(("), OPEN, sequence);
        self.insert(range.1, format!("), {shape})"), CLOSE, sequence);
    }

    /// `{% set a, b = value %}`: a string value is unpacked into its characters, as in Python.
    fn unpack_strings(&mut self, target: &Expr<'_>, value: &Expr<'_>) {
        if let Some(shape) = unpack_shape(target) {
            let range = self.widen(self.extent(value));
            self.wrap_with_shape(operators::UNPACK, range, &shape);
        }
    }

    /// jinja2 collects extra macro arguments in `varargs` and `kwargs`; minijinja has neither.
    fn reject_variadic(&self, m: &ast::Spanned<ast::Macro<'_>>) -> Result<(), Rejected> {
        let (start, end) = offsets(m.span());
        let declared = |name: &str| m.args.iter().any(|arg| matches!(arg, Expr::Var(v) if v.id == name));
        match self.variadic_reads.iter().find(|(at, name)| (start..end).contains(at) && !declared(name)) {
            Some((_, name)) => {
                Err(reject(format!("macro '{}' reads `{name}`, which fastmask does not support", m.name), m.span()))
            }
            None => Ok(()),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro<'_>, _soft: bool) -> Result<(), Rejected> {
        for default in &m.defaults {
            self.expr(default, false)?;
        }
        self.body(&m.body, false)
    }

    /// Assignment targets: names and `ns.attr`; only the expressions inside are visited.
    fn target(&mut self, target: &Expr<'_>, soft: bool) -> Result<(), Rejected> {
        match target {
            Expr::Var(_) => Ok(()),
            Expr::Tuple(t) => t.items.iter().try_for_each(|item| self.target(item, soft)),
            Expr::List(l) => l.items.iter().try_for_each(|item| self.target(item, soft)),
            Expr::GetAttr(g) => self.expr(&g.expr, soft),
            other => self.expr(other, soft),
        }
    }

    // -- expressions --------------------------------------------------------------------------

    fn args(&mut self, args: &[CallArg<'_>], soft: bool) -> Result<(), Rejected> {
        for arg in args {
            match arg {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                    self.expr(e, soft)?
                }
            }
        }
        Ok(())
    }

    fn call(&mut self, call: &ast::Call<'_>, soft: bool) -> Result<(), Rejected> {
        // The callee of a method call is not an attribute read: `d.items()` stays a method call.
        match &call.expr {
            Expr::GetAttr(g) => self.expr(&g.expr, soft)?,
            other => self.expr(other, soft)?,
        }
        self.args(&call.args, soft)
    }

    fn expr(&mut self, expr: &Expr<'_>, soft: bool) -> Result<(), Rejected> {
        match expr {
            Expr::Var(_) | Expr::Const(_) => Ok(()),
            Expr::Slice(s) => {
                self.expr(&s.expr, soft)?;
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part, soft)?;
                }
                Ok(())
            }
            Expr::UnaryOp(u) => self.expr(&u.expr, soft),
            Expr::BinOp(b) if matches!(b.op, ast::BinOpKind::Concat) => {
                self.concat(b)?.into_iter().try_for_each(|operand| self.expr(operand, soft))
            }
            Expr::BinOp(b) => {
                self.binop(b)?;
                self.expr(&b.left, soft)?;
                self.expr(&b.right, soft)
            }
            Expr::Compare(c) => {
                self.compare(c)?;
                self.expr(&c.expr, soft)?;
                c.ops.iter().try_for_each(|op| self.expr(&op.expr, soft))
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr, true)?;
                self.expr(&i.true_expr, true)?;
                i.false_expr.as_ref().map_or(Ok(()), |e| self.expr(e, true))
            }
            Expr::Filter(f) => {
                self.check_name("filter", f.name, JINJA2_FILTERS, UNSUPPORTED_FILTERS, soft, f.span())?;
                if let Some(inner) = &f.expr {
                    self.expr(inner, soft)?;
                }
                self.args(&f.args, soft)
            }
            Expr::Test(t) => {
                self.check_name("test", t.name, JINJA2_TESTS, &[], soft, t.span())?;
                self.expr(&t.expr, soft)?;
                self.args(&t.args, soft)
            }
            Expr::GetAttr(g) => {
                self.method_attribute(g);
                self.expr(&g.expr, soft)
            }
            Expr::GetItem(g) => {
                self.expr(&g.expr, soft)?;
                self.expr(&g.subscript_expr, soft)
            }
            Expr::Call(c) => self.call(c, soft),
            Expr::List(l) => l.items.iter().try_for_each(|e| self.expr(e, soft)),
            Expr::Tuple(t) => t.items.iter().try_for_each(|e| self.expr(e, soft)),
            Expr::Map(m) => m.keys.iter().chain(&m.values).try_for_each(|e| self.expr(e, soft)),
        }
    }

    fn check_name(
        &self,
        kind: &str,
        name: &str,
        known: &[&str],
        unsupported: &[&str],
        soft: bool,
        span: Span,
    ) -> Result<(), Rejected> {
        if unsupported.contains(&name) {
            return Err(reject(format!("the {kind} '{name}' is not supported by fastmask"), span));
        }
        if !known.contains(&name) && !soft {
            return Err(reject(format!("No {kind} named '{name}'."), span));
        }
        Ok(())
    }

    /// `%`, ordering comparisons and `in` become two-argument calls, unless the operand types
    /// seen in the source already give minijinja's answer (`loop.index0 % 2`, `x|length > 0`,
    /// `'key' in message`, `role in ['a', 'b']`).
    fn binop(&mut self, b: &ast::BinOp<'_>) -> Result<(), Rejected> {
        use ast::BinOpKind::*;
        let (function, expected): (&str, &[&str]) = match b.op {
            Rem => (operators::MOD, &["%"]),
            Lt => (operators::LT, &["<"]),
            Lte => (operators::LE, &["<="]),
            Gt => (operators::GT, &[">"]),
            Gte => (operators::GE, &[">="]),
            In => (operators::IN, &["in", "not in"]),
            Add => (operators::ADD, &["+"]),
            Mul => (operators::MUL, &["*"]),
            _ => return Ok(()),
        };
        let (left_kind, right_kind) = (static_kind(&b.left), static_kind(&b.right));
        let same_known = left_kind == right_kind && left_kind != Static::Unknown;
        let already_python = match b.op {
            Rem => left_kind == Static::Number && right_kind == Static::Number,
            // A string on the left is not enough: `'k' in ns` is a TypeError for a namespace.
            In => matches!(b.right, Expr::List(_) | Expr::Tuple(_)),
            // Only a sum of two values of unknown size can double a string or list in a loop;
            // a literal or a number on either side grows it by a bounded step (or fails).
            Add => {
                matches!(b.left, Expr::Const(_))
                    || matches!(b.right, Expr::Const(_))
                    || left_kind == Static::Number
                    || right_kind == Static::Number
            }
            Mul => {
                (matches!(b.left, Expr::Const(_)) && matches!(b.right, Expr::Const(_)))
                    || (left_kind == Static::Number && right_kind == Static::Number)
            }
            _ => same_known,
        };
        if already_python {
            return Ok(());
        }
        let left = self.widen(self.extent(&b.left));
        let right = self.widen(self.extent(&b.right));
        let operator = self.gap(left, right);
        if !expected.contains(&operator.as_str()) {
            return Err(reject(
                format!(
                    "fastmask could not rewrite the operator {:?} (found {operator:?}); please report it",
                    expected[0]
                ),
                b.left.span(),
            ));
        }
        let function = if operator == "not in" { operators::NOT_IN } else { function };
        self.wrap_operands(function, &[left, right], &[", ".to_string()]);
        Ok(())
    }

    /// `a ~ b ~ c` becomes one call `__fm_concat(a, b, c)`; returns the operands to visit.
    fn concat<'e, 'a>(&mut self, b: &'e ast::BinOp<'a>) -> Result<Vec<&'e Expr<'a>>, Rejected> {
        let mut operands = vec![&b.right];
        let mut head = &b.left;
        while let Expr::BinOp(inner) = head {
            if !matches!(inner.op, ast::BinOpKind::Concat) {
                break;
            }
            operands.push(&inner.right);
            head = &inner.left;
        }
        operands.push(head);
        operands.reverse();
        if operands.iter().all(|e| static_kind(e) == Static::Str) {
            return Ok(operands);
        }
        let ranges: Vec<(usize, usize)> = operands.iter().map(|e| self.widen(self.extent(e))).collect();
        for pair in ranges.windows(2) {
            if self.gap(pair[0], pair[1]) != "~" {
                return Err(reject("fastmask could not rewrite the operator \"~\"; please report it", b.left.span()));
            }
        }
        let separators = vec![", ".to_string(); ranges.len() - 1];
        self.wrap_operands(operators::CONCAT, &ranges, &separators);
        Ok(operands)
    }

    /// A chained comparison (`a < b < c`) with an ordering or `in` link becomes one call.
    fn compare(&mut self, c: &ast::Spanned<ast::Compare<'_>>) -> Result<(), Rejected> {
        use ast::CompareOpKind::*;
        let mut kinds = vec![static_kind(&c.expr)];
        kinds.extend(c.ops.iter().map(|op| static_kind(&op.expr)));
        let link_is_python = |(i, op): (usize, &ast::CompareOp<'_>)| match op.op {
            Eq | Ne => true,
            In | NotIn => false,
            _ => kinds[i] == kinds[i + 1] && kinds[i] != Static::Unknown,
        };
        if c.ops.iter().enumerate().all(link_is_python) {
            return Ok(());
        }
        let mut operands = vec![self.widen(self.extent(&c.expr))];
        operands.extend(c.ops.iter().map(|op| self.widen(self.extent(&op.expr))));
        let mut separators = Vec::new();
        for (pair, op) in operands.windows(2).zip(&c.ops) {
            let operator = self.gap(pair[0], pair[1]);
            let expected = match op.op {
                Eq => "==",
                Ne => "!=",
                Lt => "<",
                Lte => "<=",
                Gt => ">",
                Gte => ">=",
                In => "in",
                NotIn => "not in",
            };
            if operator != expected {
                return Err(reject(
                    format!("fastmask could not rewrite the comparison {expected:?}; please report it"),
                    c.span(),
                ));
            }
            separators.push(format!(", '{operator}', "));
        }
        self.wrap_operands(operators::COMPARE, &operands, &separators);
        Ok(())
    }

    /// `x.items` (not called) where `items` names a method of str, dict or list.
    fn method_attribute(&mut self, g: &ast::Spanned<ast::GetAttr<'_>>) {
        if !is_method_name(g.name) || matches!(&g.expr, Expr::Var(v) if v.id == "loop") {
            return;
        }
        let object = self.widen(self.extent(&g.expr));
        let (_, end) = offsets(g.span());
        let sequence = self.next_sequence();
        self.insert(object.0, format!("{}(", operators::ATTR), OPEN, sequence);
        self.replace((object.1, end), format!(", '{}')", g.name));
    }
}

/// The nesting of an unpacking target as a list literal (`a, (b, c)` -> `[none, [none, none]]`),
/// or None when the target is a single name.
fn unpack_shape(target: &Expr<'_>) -> Option<String> {
    let items = match target {
        Expr::Tuple(t) => &t.items,
        Expr::List(l) => &l.items,
        _ => return None,
    };
    let inner: Vec<String> = items.iter().map(|item| unpack_shape(item).unwrap_or_else(|| "none".into())).collect();
    Some(format!("[{}]", inner.join(", ")))
}

/// What the source alone says about an expression's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Static {
    Number,
    Str,
    Unknown,
}

/// Filters that always give a number or a string when they succeed.
const NUMBER_FILTERS: &[&str] = &["length", "count", "int", "float", "round", "abs", "wordcount"];
const STRING_FILTERS: &[&str] = &[
    "string",
    "trim",
    "upper",
    "lower",
    "title",
    "capitalize",
    "tojson",
    "join",
    "replace",
    "e",
    "escape",
    "forceescape",
    "format",
    "indent",
    "center",
    "truncate",
    "urlencode",
    "filesizeformat",
];
/// `loop` attributes that are integers.
const LOOP_NUMBERS: &[&str] = &["index", "index0", "revindex", "revindex0", "length", "depth", "depth0"];

fn static_kind(expr: &Expr<'_>) -> Static {
    static_kind_within(expr, STATIC_KIND_DEPTH)
}

/// How deep `static_kind` looks into an expression: every operator of a chain asks about its
/// left operand, so an unbounded look would take quadratic time on a long `a + b + c + ...`.
const STATIC_KIND_DEPTH: usize = 16;

fn static_kind_within(expr: &Expr<'_>, depth: usize) -> Static {
    use ast::BinOpKind::*;
    let Some(depth) = depth.checked_sub(1) else {
        return Static::Unknown;
    };
    let static_kind = |expr: &Expr<'_>| static_kind_within(expr, depth);
    match expr {
        Expr::Const(c) if c.value.kind() == minijinja::value::ValueKind::Number => Static::Number,
        Expr::Const(c) if c.value.kind() == minijinja::value::ValueKind::String => Static::Str,
        Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOpKind::Neg) && static_kind(&u.expr) == Static::Number => {
            Static::Number
        }
        Expr::GetAttr(g) if matches!(&g.expr, Expr::Var(v) if v.id == "loop") && LOOP_NUMBERS.contains(&g.name) => {
            Static::Number
        }
        Expr::Filter(f) if NUMBER_FILTERS.contains(&f.name) => Static::Number,
        Expr::Filter(f) if STRING_FILTERS.contains(&f.name) => Static::Str,
        Expr::BinOp(b) if matches!(b.op, Concat) => Static::Str,
        Expr::BinOp(b) if matches!(b.op, Add | Sub | Mul | Div | FloorDiv | Pow) => {
            match (static_kind(&b.left), static_kind(&b.right)) {
                (Static::Number, Static::Number) => Static::Number,
                (Static::Str, Static::Str) if matches!(b.op, Add) => Static::Str,
                _ => Static::Unknown,
            }
        }
        _ => Static::Unknown,
    }
}

/// Digits with single `_` between them, at least one digit.
fn is_digit_run(text: &str, radix: u32) -> bool {
    !text.is_empty()
        && !text.starts_with('_')
        && !text.ends_with('_')
        && !text.contains("__")
        && text.chars().all(|c| c == '_' || c.is_digit(radix))
}

/// jinja2's number literals: `0b`/`0o`/`0x` integers, decimals without leading zeros (or all
/// zeros), and floats with digits on both sides of the point or an exponent.
fn is_jinja2_number(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    for (prefix, radix) in [("0b", 2), ("0o", 8), ("0x", 16)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return is_digit_run(digits.strip_prefix('_').unwrap_or(digits), radix);
        }
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (lower.as_str(), None),
    };
    if exponent.is_some_and(|e| !is_digit_run(e, 10)) {
        return false;
    }
    match mantissa.split_once('.') {
        Some((int, fraction)) => is_digit_run(int, 10) && is_digit_run(fraction, 10),
        None if exponent.is_some() => is_digit_run(mantissa, 10),
        None => {
            is_digit_run(mantissa, 10) && (!mantissa.starts_with('0') || mantissa.chars().all(|c| c == '0' || c == '_'))
        }
    }
}

/// jinja2's string literal decoding: `value.encode("ascii", "backslashreplace").decode("unicode-escape")`.
fn python_unescape(body: &str) -> Result<String, String> {
    // Non-ASCII characters are first written as Python escapes, so a backslash before one
    // escapes the backslash of that escape, as in jinja2.
    let mut ascii = String::with_capacity(body.len());
    for c in body.chars() {
        match c as u32 {
            0..=0x7f => ascii.push(c),
            code @ 0x80..=0xff => ascii.push_str(&format!("\\x{code:02x}")),
            code @ 0x100..=0xffff => ascii.push_str(&format!("\\u{code:04x}")),
            code => ascii.push_str(&format!("\\U{code:08x}")),
        }
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = ascii.chars().peekable();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, what: &str| -> Result<char, String> {
        let digits: String = (0..n).map_while(|_| chars.next_if(char::is_ascii_hexdigit)).collect();
        if digits.len() != n {
            return Err(format!("truncated {what} escape"));
        }
        let code = u32::from_str_radix(&digits, 16).map_err(|_| format!("truncated {what} escape"))?;
        char::from_u32(code).ok_or_else(|| {
            if (0xd800..0xe000).contains(&code) {
                "lone surrogate escapes are not supported by fastmask".to_string()
            } else {
                "illegal Unicode character".to_string()
            }
        })
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            return Err("\\ at end of string".into());
        };
        match next {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(next),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0'..='7' => {
                let mut code = next.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            'x' => out.push(hex(&mut chars, 2, "\\xXX")?),
            'u' => out.push(hex(&mut chars, 4, "\\uXXXX")?),
            'U' => out.push(hex(&mut chars, 8, "\\UXXXXXXXX")?),
            'N' => return Err("\\N{...} escapes are not supported by fastmask".into()),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// A double-quoted literal that minijinja decodes to exactly `value`.
fn minijinja_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(source: &str) -> String {
        rewrite_for_jinja2(source, &SyntaxConfig::default()).unwrap()
    }

    fn rejected(source: &str) -> Rejected {
        rewrite_for_jinja2(source, &SyntaxConfig::default()).unwrap_err()
    }

    #[test]
    fn percent_and_concat_become_calls() {
        assert_eq!(rewrite("{{ '%s' % x }}"), "{{ __fm_mod('%s', x) }}");
        assert_eq!(rewrite("{{ a % b % c }}"), "{{ __fm_mod(__fm_mod(a, b), c) }}");
        assert_eq!(rewrite("{{ (x) % (y|default(1)) }}"), "{{ __fm_mod((x), (y|default(1))) }}");
        assert_eq!(rewrite("{{ a * b % c }}"), "{{ __fm_mod(__fm_mul(a, b), c) }}");
        assert_eq!(rewrite("{{ ('%s' % (a, b)) ~ c }}"), "{{ __fm_concat((__fm_mod('%s', (a, b))), c) }}");
        assert_eq!(
            rewrite("{{ '<' ~ m.role ~ '>' ~ (x ~ y) }}"),
            "{{ __fm_concat('<', m.role, '>', (__fm_concat(x, y))) }}"
        );
    }

    #[test]
    fn operations_whose_types_show_in_the_source_are_left_alone() {
        for source in [
            "{{ loop.index0 % 2 == 0 }}",
            "{{ x|length > 0 }}",
            "{{ m.role not in ['user', 'system'] }}",
            "{{ 'a' ~ 'b'|upper }}",
            "{{ loop.index < loop.length - 1 }}",
            "{{ 1 < 2 <= x|int }}",
        ] {
            assert_eq!(rewrite(source), source);
        }
    }

    #[test]
    fn sums_and_products_that_can_grow_become_calls() {
        assert_eq!(
            rewrite("{{ a + b }}{{ a * b }}{{ ' ' * n }}"),
            "{{ __fm_add(a, b) }}{{ __fm_mul(a, b) }}{{ __fm_mul(' ', n) }}"
        );
        // A literal or a number on one side grows a string or list by a bounded step.
        for source in
            ["{{ a + '\\n' }}", "{{ '<' + m.role }}", "{{ loop.index0 + 1 }}", "{{ '=' * 40 }}", "{{ x|length * 2 }}"]
        {
            assert_eq!(rewrite(source), source);
        }
    }

    #[test]
    fn namespace_assignments_are_checked() {
        assert_eq!(rewrite("{% set ns.s = ns.s + ns.s %}"), "{% set ns.s = __fm_store(ns, __fm_add(ns.s, ns.s)) %}");
        assert_eq!(rewrite("{% set ns.l = [ns.l] %}"), "{% set ns.l = __fm_store(ns, [ns.l]) %}");
        for source in [
            "{% set ns.found = true %}",
            "{% set ns.i = loop.index0 %}",
            "{% set ns.t = x|trim %}",
            "{% set x = [x] %}",
        ] {
            assert_eq!(rewrite(source), source);
        }
    }

    #[test]
    fn comparisons_become_calls() {
        assert_eq!(rewrite("{{ a < b }}"), "{{ __fm_lt(a, b) }}");
        assert_eq!(rewrite("{{ x not in y }}"), "{{ __fm_not_in(x, y) }}");
        assert_eq!(rewrite("{{ not x in y }}"), "{{ not __fm_in(x, y) }}");
        assert_eq!(rewrite("{{ a < b <= c }}"), "{{ __fm_cmp(a, '<', b, '<=', c) }}");
        assert_eq!(rewrite("{{ a == b }}{{ a != b }}"), "{{ a == b }}{{ a != b }}");
        assert_eq!(rewrite("{{ 'tool_calls' in message }}"), "{{ __fm_in('tool_calls', message) }}");
        assert_eq!(
            rewrite("{% if (a|length) > n and m.role in roles %}{% endif %}"),
            "{% if __fm_gt((a|length), n) and __fm_in(m.role, roles) %}{% endif %}"
        );
    }

    #[test]
    fn loops_attributes_and_private_names() {
        assert_eq!(rewrite("{% for c in 'ab' %}{% endfor %}"), "{% for c in __fm_iter('ab') %}{% endfor %}");
        assert_eq!(rewrite("{% for m in (xs) if m %}{% endfor %}"), "{% for m in __fm_iter((xs)) if m %}{% endfor %}");
        assert_eq!(
            rewrite("{{ p.items }}{{ p.items() }}{{ loop.index }}{{ p.type }}"),
            "{{ __fm_attr(p, 'items') }}{{ p.items() }}{{ loop.index }}{{ p.type }}"
        );
        assert_eq!(rewrite("{% set ns._x = 1 %}"), "{% set ns._x = __fm_private_attr('_x', 1) %}");
        assert_eq!(
            rewrite("{% for k, (v, w) in xs %}{% endfor %}{% set a, b = 'xy' %}"),
            "{% for k, (v, w) in __fm_iter_unpack((xs), [none, [none, none]]) %}{% endfor %}{% set a, b = __fm_unpack(('xy'), [none, none]) %}"
        );
    }

    #[test]
    fn jinja2_compile_errors() {
        assert_eq!(
            rejected("a\n{% do x.append(1) %}"),
            Rejected { message: "Encountered unknown tag 'do'.".into(), line: 2 }
        );
        assert_eq!(rejected("{{ x|split }}").message, "No filter named 'split'.");
        assert_eq!(rejected("{{ x is startingwith('a') }}").message, "No test named 'startingwith'.");
        assert!(rejected("{% if x %}{{ x|random }}{% endif %}").message.contains("not supported"));
        // In an `if` branch jinja2 checks only when the filter runs.
        assert_eq!(rewrite("{% if x %}{{ x|split }}{% endif %}"), "{% if x %}{{ x|split }}{% endif %}");
        assert!(rejected("{% macro m() %}{{ varargs }}{% endmacro %}").message.contains("varargs"));
        assert_eq!(
            rewrite("{% macro m(kwargs) %}{{ kwargs }}{{ x.varargs }}{% endmacro %}"),
            "{% macro m(kwargs) %}{{ kwargs }}{{ x.varargs }}{% endmacro %}"
        );
        assert!(rewrite_for_jinja2(
            "{% if x %}{% for y in z %}{{ y|split }}{% endfor %}{% endif %}",
            &SyntaxConfig::default()
        )
        .is_err());
    }

    #[test]
    fn string_literals_decode_like_python() {
        assert_eq!(python_unescape(r"a\/b\U0001F600\a\101\x41\d").unwrap(), "a\\/b😀\u{7}AA\\d");
        assert_eq!(python_unescape("\\é").unwrap(), "\\xe9");
        assert!(python_unescape(r"\x4").is_err());
        assert!(python_unescape(r"\N{BULLET}").is_err());
        assert_eq!(rewrite(r"{{ '\/' }}{{ '\n' }}"), r#"{{ "\\/" }}{{ '\n' }}"#);
    }

    #[test]
    fn number_literals_jinja2_rejects() {
        for ok in ["0", "00", "0_0", "10", "1_000", "0x1F", "0o17", "0b1_1", "1.5", "1e5", "1E-2", "1_0.5", "2.5e+3"] {
            assert!(is_jinja2_number(ok), "{ok}");
        }
        for bad in ["007", "1.", "1__0", "1_", "1.5e"] {
            assert!(!is_jinja2_number(bad), "{bad}");
        }
        assert!(rejected("{{ 007 }}").message.contains("\"007\""));
    }

    #[test]
    fn unparsable_sources_are_left_for_the_compiler() {
        assert_eq!(rewrite("{% if %}"), "{% if %}");
    }
}
