//! A compiled chat template and its render: text plus the spans of its generation blocks.
//!
//! Positions follow transformers: when a generation block finishes, its span starts at the
//! length of the top-level output written so far and is as long as the block's body. Output of
//! blocks inside macros or `{% set %}` captures is not top-level yet, so, exactly as in
//! transformers, their spans are relative to the top-level stream at that moment.

use std::io;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, State};

use super::environment::{hf_environment, hf_syntax, Clock};
pub use super::scope::Span;
use super::scope::{reached, utf8_chars, with_state, Scope};
use super::source::generation::{rewrite_generation_tags, GENERATION_CLOSE, GENERATION_FUNCTION, GENERATION_OPEN};
use super::source::semantics::rewrite_for_jinja2;
use super::value::print::write_str;
use super::value::types::{dict_pairs, list_items};
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

const TEMPLATE_NAME: &str = "chat_template";

/// Room the output buffer starts with beyond the context's own text, for the template's markup.
const OUTPUT_MARKUP_BYTES: usize = 1024;

/// The rendered text and its generation blocks in the order transformers records them
/// (a block is recorded when it ends, so an inner block comes before the block around it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub spans: Vec<Span>,
}

/// A template compiled once, rendered many times from any thread.
pub struct ChatTemplate {
    /// Declared before `source`, which it borrows: fields drop in order, so it goes first.
    env: Environment<'static>,
    /// The source `env` compiled, as a borrowed template: minijinja finds a borrowed template
    /// without the lock it takes around owned ones, a lock that a process forked while another
    /// thread rendered inherited held, and its first render then waited forever (datasets'
    /// `map(num_proc=N)` forks while the caller may be encoding in another thread).
    _source: Box<str>,
    has_generation: bool,
    limits: Limits,
}

impl ChatTemplate {
    /// Compiles `source` with the default limits; a syntax error names its line.
    pub fn compile(source: &str, clock: Clock) -> Result<Self> {
        Self::compile_with_limits(source, clock, Limits::default())
    }

    /// Compiles `source`, which renders under `limits`.
    pub fn compile_with_limits(source: &str, clock: Clock, limits: Limits) -> Result<Self> {
        Self::compile_rewritten(source, clock, limits, true)
    }

    /// Compiles `source` with every generation block as a call block when `direct` is false
    /// (tests compare the two rewrites).
    fn compile_rewritten(source: &str, clock: Clock, limits: Limits, direct: bool) -> Result<Self> {
        limits.validate()?;
        if source.len() > limits.template_bytes {
            return Err(Error::limit(format!(
                "template limit: the template has {} bytes, more than the limit of {}",
                source.len(),
                limits.template_bytes
            )));
        }
        // jinja2 reads `\r\n` and `\r` line endings as `\n`.
        let source = source.replace("\r\n", "\n").replace('\r', "\n");
        let rewritten = rewrite_generation_tags(&source, direct);
        // Operators, literals and constructs minijinja reads differently from jinja2.
        let jinja2_source = rewrite_for_jinja2(&rewritten.source, &hf_syntax()).map_err(|rejected| {
            Error::new(ErrorKind::TemplateSyntax, format!("{} (template line {})", rejected.message, rejected.line))
        })?;
        let mut env = hf_environment(clock);
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(limits.recursion);
        env.add_function(GENERATION_FUNCTION, generation);
        env.add_function(GENERATION_OPEN, generation_open);
        env.add_function(GENERATION_CLOSE, generation_close);
        env.add_function("raise_exception", raise_exception);
        let source = jinja2_source.into_boxed_str();
        // SAFETY: `source` is a heap allocation that the returned ChatTemplate owns beside `env`
        // and never changes; it stays where it is when the ChatTemplate moves, and it is dropped
        // after `env` (field order). Every borrow of it goes through `env` or a clone of `env`
        // made inside `render`, so no reference outlives it.
        let borrowed: &'static str = unsafe { &*std::ptr::from_ref::<str>(&source) };
        env.add_template(TEMPLATE_NAME, borrowed)
            .map_err(|err| template_error(ErrorKind::TemplateSyntax, &err, None))?;
        Ok(ChatTemplate { env, _source: source, has_generation: rewritten.has_generation, limits })
    }

    /// The limits this template renders under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the template marks assistant text with `{% generation %}`.
    pub fn has_generation(&self) -> bool {
        self.has_generation
    }

    /// Renders with `context` as the template's variables.
    pub fn render(&self, context: Value) -> Result<Rendered> {
        let context_bytes = text_bytes(&context);
        let fuel = self.limits.render_fuel(context_bytes);
        // minijinja sets fuel per environment; a clone shares the compiled template.
        let with_more_fuel;
        let env = if fuel == self.limits.fuel {
            &self.env
        } else {
            let mut env = self.env.clone();
            env.set_fuel(Some(fuel));
            with_more_fuel = env;
            &with_more_fuel
        };
        let template =
            env.get_template(TEMPLATE_NAME).map_err(|err| template_error(ErrorKind::Template, &err, None))?;
        // Chat templates mostly print their messages with a little markup around each.
        let scope = Scope::install(&self.limits, fuel, context_bytes.saturating_add(OUTPUT_MARKUP_BYTES));
        let result = template.render_captured_to(context, TrackingWriter).map(drop);
        let state = scope.finish();
        // A limit reached fails the render with its own message, also where no error could be
        // raised at once (printing) and the render went on.
        if let Some(message) = state.reached {
            return Err(Error::limit(message));
        }
        match result {
            Ok(()) => {
                let text = String::from_utf8(state.output)
                    .map_err(|_| Error::new(ErrorKind::Template, "the template produced invalid UTF-8"))?;
                let mut spans = state.spans;
                end_spans_where_their_characters_end(&text, &mut spans);
                Ok(Rendered { text, spans })
            }
            Err(err) => Err(render_error(&err, state.raised, &self.limits, fuel)),
        }
    }
}

/// transformers' spans are characters: a block's span ends `end_char` characters into the text.
/// A block inside a macro or `{% set %}` capture is recorded at the top-level position of that
/// moment, so the text there need not be the block's own, and its byte length can differ from
/// the block's (`ab{% generation %}éé{% endgeneration %}` in a macro spans "ab", not "abé").
/// Ends past the text stay past it, by the characters they overshoot.
fn end_spans_where_their_characters_end(text: &str, spans: &mut [Span]) {
    for span in spans {
        let chars = span.end_char - span.start_char;
        // A block at the top level is followed by its own body: the bytes it recorded hold
        // exactly its characters.
        if text.get(span.start_byte..span.end_byte).is_some_and(|body| utf8_chars(body.as_bytes()) == chars) {
            continue;
        }
        let tail = &text[span.start_byte..];
        span.end_byte = span.start_byte
            + match tail.char_indices().nth(chars) {
                Some((offset, _)) => offset,
                None => tail.len() + (chars - tail.chars().count()),
            };
    }
}

/// A render error: running out of fuel or recursion depth is a limit, the rest template errors.
fn render_error(err: &minijinja::Error, raised: Option<String>, limits: &Limits, fuel: u64) -> Error {
    if raised.is_none() {
        if err.kind() == minijinja::ErrorKind::OutOfFuel {
            return Error::limit(format!(
                "fuel limit: the template ran more than {fuel} steps (an endless or huge loop?)"
            ));
        }
        let detail = err.detail().unwrap_or_default();
        if detail.contains("recursion limit exceeded") {
            return Error::limit(format!("recursion limit: macros or loops nested deeper than {}", limits.recursion));
        }
        if detail.contains("is too large") {
            return Error::limit(format!("string limit: {detail}"));
        }
    }
    template_error(ErrorKind::Template, err, raised)
}

/// Bytes of text (strings and map keys) in a template context: what a render's fuel scales with.
/// Iterative, since a context built through the Rust API has no depth limit. Dicts and lists as
/// minijinja builds them are walked in place (every render walks its whole context).
fn text_bytes(context: &Value) -> usize {
    let mut bytes = 0usize;
    let mut pending = vec![context.clone()];
    let mut count = |value: &Value, pending: &mut Vec<Value>| match value.kind() {
        ValueKind::String => bytes = bytes.saturating_add(value.as_str().map_or(0, str::len)),
        ValueKind::Seq | ValueKind::Map => pending.push(value.clone()),
        _ => {}
    };
    while let Some(value) = pending.pop() {
        if let Some(pairs) = dict_pairs(&value) {
            for (key, item) in pairs {
                count(key, &mut pending);
                count(item, &mut pending);
            }
        } else if let Some(items) = list_items(&value) {
            items.iter().for_each(|item| count(item, &mut pending));
        } else if value.kind() == ValueKind::Map {
            for key in value.try_iter().into_iter().flatten() {
                if let Ok(item) = value.get_item(&key) {
                    count(&item, &mut pending);
                }
                count(&key, &mut pending);
            }
        } else if value.kind() == ValueKind::Seq {
            value.try_iter().into_iter().flatten().for_each(|item| count(&item, &mut pending));
        } else {
            count(&value, &mut pending);
        }
    }
    bytes
}

/// Turns a minijinja error into ours; `raise_exception` messages are passed through verbatim.
fn template_error(kind: ErrorKind, err: &minijinja::Error, raised: Option<String>) -> Error {
    if let Some(message) = raised {
        return Error::new(ErrorKind::Template, message);
    }
    let detail = err.detail().map(str::to_string).unwrap_or_else(|| err.kind().to_string());
    let message = match err.line() {
        Some(line) => format!("{}: {detail} (template line {line})", err.kind()),
        None => format!("{}: {detail}", err.kind()),
    };
    Error::new(kind, message)
}

/// The top-level output stream: keeps the bytes (characters are counted when a span needs them).
struct TrackingWriter;

impl io::Write for TrackingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let within = with_state(|state| {
            if state.output.len().saturating_add(buf.len()) > state.output_limit {
                return Err(state.output_limit);
            }
            state.output.extend_from_slice(buf);
            Ok(())
        });
        if let Some(Err(limit)) = within {
            reached(format!("output limit: the rendered text would exceed {limit} bytes"));
            return Err(io::Error::other("output limit reached"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The body of a rewritten `{% generation %}` block: renders it and records its span.
fn generation(state: &mut State, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let caller: Value = kwargs.get("caller")?;
    kwargs.assert_all_used()?;
    let body = caller.call(state, &[])?;
    let text = body.as_str().unwrap_or_default();
    let (body_bytes, body_chars) = (text.len(), text.chars().count());
    with_state(|state| {
        let start_byte = state.output.len();
        let start_char = state.output_chars();
        state.spans.push(Span {
            start_byte,
            end_byte: start_byte + body_bytes,
            start_char,
            end_char: start_char + body_chars,
        });
    });
    Ok(body)
}

/// The start of a generation block written straight to the top-level output.
fn generation_open() -> Value {
    with_state(|state| {
        let start_char = state.output_chars();
        state.open_blocks.push((state.output.len(), start_char));
    });
    Value::from(())
}

/// The end of a generation block written straight to the top-level output: its body is the
/// output written since it opened, so the span is the one the call block would record.
fn generation_close() -> Value {
    with_state(|state| {
        if let Some((start_byte, start_char)) = state.open_blocks.pop() {
            let end_char = state.output_chars();
            state.spans.push(Span { start_byte, end_byte: state.output.len(), start_char, end_char });
        }
    });
    Value::from(())
}

/// transformers' `raise_exception(message)`: aborts the render with the template's own message.
fn raise_exception(message: Value) -> std::result::Result<Value, minijinja::Error> {
    let mut text = String::new();
    write_str(&message, &mut text);
    with_state(|state| state.raised = Some(text.clone()));
    Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn render(source: &str, ctx: Value) -> Rendered {
        ChatTemplate::compile(source, Clock::Local).unwrap().render(ctx).unwrap()
    }

    fn char_spans(rendered: &Rendered) -> Vec<(usize, usize)> {
        rendered.spans.iter().map(|s| (s.start_char, s.end_char)).collect()
    }

    /// Every string and key counts once, in dicts and lists minijinja builds (walked in place)
    /// and in other sequences (tuples) alike.
    #[test]
    fn text_bytes_counts_every_string_and_key() {
        use minijinja::value::Tuple;
        let message = Value::from_pairs([("role", Value::from("user")), ("content", Value::from("héllo"))]);
        let tuple = Value::from(Tuple::from(vec![Value::from("ab"), Value::from(7)]));
        // The walk in place applies to the dicts and lists messages are built as.
        assert!(dict_pairs(&message).is_some() && list_items(&Value::from(vec![message.clone()])).is_some());
        let context = context! { messages => vec![message.clone(), message], t => tuple, n => 3 };
        // keys "messages", "t", "n" (8 + 1 + 1); each message "role"+"user"+"content"+"héllo" (4+4+7+6); "ab".
        assert_eq!(text_bytes(&context), 10 + 2 * 21 + 2);
        assert_eq!(text_bytes(&Value::from("abc")), 3);
    }

    #[test]
    fn records_blocks_in_a_loop() {
        let out = render(
            "{% for m in messages %}<{{ m }}>{% generation %}[{{ m }}]{% endgeneration %}{% endfor %}",
            context! { messages => vec!["é", "b"] },
        );
        assert_eq!(out.text, "<é>[é]<b>[b]");
        assert_eq!(char_spans(&out), vec![(3, 6), (9, 12)]);
        assert_eq!((out.spans[0].start_byte, out.spans[0].end_byte), (4, 8));
    }

    #[test]
    fn nested_blocks_record_the_inner_first() {
        let out = render("a{% generation %}b{% generation %}c{% endgeneration %}d{% endgeneration %}", context! {});
        assert_eq!(out.text, "abcd");
        // transformers: the inner block ends first, and both start at the top-level length 1.
        assert_eq!(char_spans(&out), vec![(1, 2), (1, 4)]);
    }

    #[test]
    fn blocks_in_set_captures_are_relative_to_top_level_output() {
        let out = render("xy{% set s %}{% generation %}ab{% endgeneration %}{% endset %}--{{ s }}", context! {});
        assert_eq!(out.text, "xy--ab");
        assert_eq!(char_spans(&out), vec![(2, 4)]);
    }

    #[test]
    fn blocks_in_macros_are_relative_to_top_level_output() {
        let out = render(
            "{% macro m(x) %}{% generation %}{{ x }}{% endgeneration %}{% endmacro %}12{{ m('abc') }}",
            context! {},
        );
        assert_eq!(out.text, "12abc");
        assert_eq!(char_spans(&out), vec![(2, 5)]);
    }

    #[test]
    fn spans_of_blocks_in_macros_end_where_their_characters_end() {
        // Found by the fuzz target: the block's "éé" is 4 bytes, but its span (characters 0..2,
        // as transformers records it) covers "ab", 2 bytes; 4 bytes also masked the first "é".
        let out =
            render("{% macro t() %}ab{% generation %}éé{% endgeneration %}{% endmacro %}{{ t() }}xy", context! {});
        assert_eq!(out.text, "abééxy");
        assert_eq!(char_spans(&out), vec![(0, 2)]);
        assert_eq!((out.spans[0].start_byte, out.spans[0].end_byte), (0, 2));
        let past_the_end = render("{% set s %}{% generation %}ééé{% endgeneration %}{% endset %}é", context! {});
        assert_eq!(char_spans(&past_the_end), vec![(0, 3)]);
        assert_eq!((past_the_end.spans[0].start_byte, past_the_end.spans[0].end_byte), (0, 4));
    }

    #[test]
    fn outer_loop_is_visible_in_a_nested_loop_iterable() {
        let out = render(
            "{% for m in xs %}{% generation %}{% for later in xs[loop.index:] %}{{ later }}{% endfor %};{% endgeneration %}{% endfor %}",
            context! { xs => vec![1, 2, 3] },
        );
        assert_eq!(out.text, "23;3;;");
    }

    #[test]
    fn template_variables_read_only_in_a_nested_loop_iterable_are_visible() {
        let out = render(
            "{% set xs = [1, 2, 3] %}{% for m in xs %}{% generation %}{% for later in xs[loop.index:] %}{{ later }}{% endfor %};{% endgeneration %}{% endfor %}",
            context! {},
        );
        assert_eq!(out.text, "23;3;;");
    }

    #[test]
    fn namespace_assigned_in_a_block_persists() {
        let out = render(
            "{% set ns = namespace(n=0) %}{% for m in xs %}{% generation %}{% set ns.n = ns.n + m %}{% endgeneration %}{% endfor %}{{ ns.n }}",
            context! { xs => vec![1, 2, 3] },
        );
        assert_eq!(out.text, "6");
        let only_assigned = render(
            "{% set ns = namespace(n=0) %}{% generation %}{% set ns.n = 5 %}{% endgeneration %}{{ ns.n }}",
            context! {},
        );
        assert_eq!(only_assigned.text, "5");
    }

    #[test]
    fn whitespace_control_on_the_tag() {
        let out = render("a\n{%- generation -%}\n b \n{%- endgeneration -%}\n c", context! {});
        assert_eq!(out.text, "abc");
        assert_eq!(char_spans(&out), vec![(1, 2)]);
    }

    #[test]
    fn raise_exception_keeps_its_message() {
        let template = ChatTemplate::compile("{{ raise_exception('roles must alternate') }}", Clock::Local).unwrap();
        let err = template.render(context! {}).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Template);
        assert_eq!(err.message, "roles must alternate");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = ChatTemplate::compile("ok\n{% if %}", Clock::Local).err().unwrap();
        assert_eq!(err.kind, ErrorKind::TemplateSyntax);
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn raw_blocks_render_like_jinja2() {
        assert_eq!(render("{% raw %}\n{{ x }}{% endraw %}\nB", context! {}).text, "\n{{ x }}B");
        assert_eq!(render("{% raw -%}\n  A{% endraw %}", context! {}).text, "A");
    }

    #[test]
    fn crlf_sources_render_like_jinja2() {
        let out = render("{% if true %}\r\na\r\n{% endif %}\r\nb", context! {});
        assert_eq!(out.text, "a\nb");
    }

    #[test]
    fn render_state_is_cleared_after_errors() {
        let template =
            ChatTemplate::compile("{% generation %}x{% endgeneration %}{{ raise_exception('no') }}", Clock::Local)
                .unwrap();
        assert!(template.render(context! {}).is_err());
        let ok = ChatTemplate::compile("{% generation %}y{% endgeneration %}", Clock::Local).unwrap();
        assert_eq!(char_spans(&ok.render(context! {}).unwrap()), vec![(0, 1)]);
    }

    /// A block rewritten as two statements records the span its call block records, in every
    /// place the rewrite takes that form.
    #[test]
    fn blocks_written_straight_to_the_output_record_the_call_blocks_spans() {
        let messages = vec![
            context! { role => "user", content => "héllo" },
            context! { role => "assistant", content => "ça va 👍", tool_calls => vec![context! { name => "f" }] },
            context! { role => "assistant", content => "" },
        ];
        let sources = [
            "a\n{%- generation -%}\n b \n{%- endgeneration -%}\n c",
            "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}\
             {% for t in m.tool_calls or [] %}{% set t = t.name %}[{{ t }}]{% endfor %}{{ loop.index }}{% endgeneration %}\
             {% endif %}{% endfor %}{% generation %}{% endgeneration %}",
            "{% set ns = namespace(n=0) %}{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}é{% endfor %}",
            "{% for m in messages %}{% with x = m.content %}{% generation %}{{ x | upper }}{% endgeneration %}{% endwith %}{% endfor %}",
        ];
        for source in sources {
            assert!(rewrite_generation_tags(source, true).source.contains(GENERATION_OPEN), "{source}");
            let direct = ChatTemplate::compile_rewritten(source, Clock::Local, Limits::default(), true).unwrap();
            let called = ChatTemplate::compile_rewritten(source, Clock::Local, Limits::default(), false).unwrap();
            let context = context! { messages => messages.clone() };
            let (direct_out, called_out) = (direct.render(context.clone()).unwrap(), called.render(context).unwrap());
            assert!(!direct_out.spans.is_empty(), "{source}");
            assert_eq!(direct_out, called_out, "{source}");
        }
    }
}
