//! Rewrites transformers' `{% generation %}` tag, which minijinja cannot parse.
//!
//! A block whose body writes straight to the top-level output becomes a pair of statements,
//! `{%- set __fm_span = __fm_generation_open() -%}` … `{%- set __fm_span = __fm_generation_close() -%}`,
//! that record where the output stood at each end (`set`, not `do`: jinja2 as transformers runs
//! it has no `do`, and the rewrite of operators rejects one). Any other block becomes a call
//! block, `{%- call __fm_generation() -%}` … `{%- endcall -%}`, whose function renders the body and
//! records its span as transformers does (at the top-level length of the moment the block ends,
//! as long as its body). The two agree wherever the first is used; it saves the call's macro,
//! closure and captured output (about a sixth of minijinja's work on a training template). Only
//! the keyword is replaced, so whitespace-control marks, `trim_blocks` / `lstrip_blocks`
//! behaviour and line numbers stay exactly as written. Comments, `{{ }}` expressions, string
//! literals and `{% raw %}` bodies are skipped, so text that merely looks like the tag is left
//! alone.

/// Name of the function the rewritten call blocks invoke; registered by `render.rs`.
pub const GENERATION_FUNCTION: &str = "__fm_generation";
/// Names of the functions a block written straight to the output calls at its two ends.
pub const GENERATION_OPEN: &str = "__fm_generation_open";
pub const GENERATION_CLOSE: &str = "__fm_generation_close";

/// The rewritten source and whether it held at least one generation block.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    pub source: String,
    pub has_generation: bool,
}

/// Replaces every `generation` / `endgeneration` block tag; with every block a call block when
/// `direct` is false (tests compare the two).
pub fn rewrite_generation_tags(source: &str, direct: bool) -> Rewritten {
    let tags = scan_block_tags(source);
    let direct_blocks = if direct { direct_blocks(source, &tags) } else { Vec::new() };
    let mut out = String::with_capacity(source.len() + 64);
    let mut copied_to = 0;
    for (index, tag) in tags.iter().enumerate() {
        let is_direct = direct_blocks.iter().any(|&(open, close)| index == open || index == close);
        match tag.keyword {
            "generation" if is_direct => {
                out.push_str(&source[copied_to..tag.keyword_start]);
                out.push_str(&format!("set __fm_span = {GENERATION_OPEN}()"));
                copied_to = tag.keyword_start + tag.keyword.len();
            }
            "endgeneration" if is_direct => {
                out.push_str(&source[copied_to..tag.keyword_start]);
                out.push_str(&format!("set __fm_span = {GENERATION_CLOSE}()"));
                copied_to = tag.keyword_start + tag.keyword.len();
            }
            "generation" => {
                out.push_str(&source[copied_to..tag.keyword_start]);
                out.push_str(&format!("call {GENERATION_FUNCTION}()"));
                let captured = names_to_capture(source, &tags, index);
                if captured.is_empty() {
                    copied_to = tag.keyword_start + tag.keyword.len();
                } else {
                    // minijinja closes a macro body only over the variables it sees read there, and
                    // misses two kinds: `{% set ns.x = .. %}` targets, and `loop` when it is read
                    // in a nested for's iterable (`for m in messages[loop.index:]`). Naming them once
                    // at the top of the body makes the caller body see them, as jinja2's does.
                    out.push_str(" %}{% set __fm_captured = [");
                    out.push_str(&captured.join(", "));
                    out.push_str("] ");
                    copied_to = tag.tail_start;
                }
            }
            "endgeneration" => {
                out.push_str(&source[copied_to..tag.keyword_start]);
                out.push_str("endcall");
                copied_to = tag.keyword_start + tag.keyword.len();
            }
            // jinja2 does not apply trim_blocks to the newline after `{% raw %}`; minijinja does
            // unless the tag ends in `+%}`.
            "raw" if source[tag.tail_start..].starts_with("%}") => {
                out.push_str(&source[copied_to..tag.tail_start]);
                out.push('+');
                copied_to = tag.tail_start;
            }
            _ => {}
        }
    }
    out.push_str(&source[copied_to..]);
    let has_generation = tags.iter().any(|tag| tag.keyword == "generation");
    Rewritten { source: out, has_generation }
}

/// The (open, close) tag indices of the generation blocks whose body is written straight to the
/// top-level output and behaves the same outside a call block:
/// - the template has no construct that captures output (macros, call and filter blocks, block
///   `set`s, template blocks, recursive loops), so no block can be inside one;
/// - the block holds no other generation block (whose span would start where this one's does);
/// - its body assigns no variable at its own scope (a call block's body is a scope of its own,
///   so such a `set` would leak out of the pair of statements), breaks or continues no loop
///   around it, and reads none of the names only a macro defines (`caller`, `varargs`, `kwargs`).
fn direct_blocks(source: &str, tags: &[BlockTag<'_>]) -> Vec<(usize, usize)> {
    const CAPTURING: [&str; 5] = ["macro", "call", "filter", "endset", "block"];
    let captures = tags.iter().any(|tag| {
        CAPTURING.contains(&tag.word)
            || (tag.word == "for" && mentions_word(&source[tag.keyword_start..tag.end], "recursive"))
    });
    if captures {
        return Vec::new();
    }
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < tags.len() {
        if tags[index].keyword != "generation" {
            index += 1;
            continue;
        }
        let open = index;
        let Some(close) = block_end(tags, open) else { break };
        // Loops and `with` blocks opened inside the body: a `set`, `break` or `continue` in them
        // stays in them.
        let mut scopes = 0usize;
        let mut direct = true;
        for tag in &tags[open + 1..close] {
            match tag.word {
                "generation" => direct = false,
                "for" | "with" => scopes += 1,
                "endfor" | "endwith" => scopes = scopes.saturating_sub(1),
                "set" | "break" | "continue" if scopes == 0 => direct = false,
                _ => {}
            }
        }
        let body = &source[tags[open].end..tags[close].keyword_start];
        direct &= !["caller", "varargs", "kwargs"].iter().any(|name| mentions_word(body, name));
        if direct {
            blocks.push((open, close));
        }
        // Blocks nested in this one are inside its body: not direct either way.
        index = close + 1;
    }
    blocks
}

/// The index of the `endgeneration` that closes the generation block opened at `open`; None
/// when the source ends first.
fn block_end(tags: &[BlockTag<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, tag) in tags.iter().enumerate().skip(open) {
        match tag.keyword {
            "generation" => depth += 1,
            "endgeneration" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every block tag outside comments, expressions and raw bodies, in source order.
fn scan_block_tags(source: &str) -> Vec<BlockTag<'_>> {
    let mut tags = Vec::new();
    let mut pos = 0;
    while let Some(offset) = source[pos..].find('{') {
        let open = pos + offset;
        let rest = &source[open..];
        if rest.starts_with("{#") {
            pos = skip_past(source, open + 2, "#}");
        } else if rest.starts_with("{{") {
            pos = skip_tag(source, open + 2, "}}");
        } else if rest.starts_with("{%") {
            let tag = BlockTag::parse(source, open);
            pos = if tag.keyword == "raw" { skip_raw_body(source, tag.end) } else { tag.end };
            tags.push(tag);
        } else {
            pos = open + 1;
        }
    }
    tags
}

/// Outer variables the body of the generation block `open` must close over explicitly: `X` of
/// every `{% set X.attr = .. %}` in it, and `loop` when the body mentions it.
fn names_to_capture<'a>(source: &'a str, tags: &[BlockTag<'a>], open: usize) -> Vec<&'a str> {
    let close = block_end(tags, open);
    let mut names: Vec<&str> = Vec::new();
    for tag in &tags[open + 1..close.unwrap_or(tags.len())] {
        let iterable_names = tag.iterable.map(identifiers).unwrap_or_default();
        for name in tag.assigned_namespace.into_iter().chain(iterable_names) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let body_end = close.map_or(source.len(), |close| tags[close].keyword_start);
    if mentions_word(&source[tags[open].end..body_end], "loop") && !names.contains(&"loop") {
        names.insert(0, "loop");
    }
    names
}

/// Variable names an expression reads: identifiers that are not attributes (`.x`), keywords,
/// keyword-argument names or inside string literals. Over-approximating is harmless: naming a
/// variable that does not exist yields undefined.
fn identifiers(expression: &str) -> Vec<&str> {
    const KEYWORDS: [&str; 14] =
        ["and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None", "recursive"];
    let bytes = expression.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' || b == b'\'' {
            i = skip_string(bytes, i + 1, b);
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let name = &expression[start..i];
            let after_dot = expression[..start].trim_end().ends_with(['.', '|']);
            let is_kwarg =
                expression[i..].trim_start().starts_with('=') && !expression[i..].trim_start().starts_with("==");
            if !after_dot && !is_kwarg && !KEYWORDS.contains(&name) {
                names.push(name);
            }
        } else if b.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

fn mentions_word(text: &str, word: &str) -> bool {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    text.match_indices(word).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| text.as_bytes()[i]);
        let after = text.as_bytes().get(at + word.len()).copied();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// A `{% ... %}` tag: where its first word starts, the word, and the byte after `%}`.
struct BlockTag<'a> {
    keyword_start: usize,
    /// The tag's first word when it is the whole statement (`generation`, `raw`, ...); `set`
    /// tags keep `set`; other tags with arguments have an empty keyword.
    keyword: &'a str,
    /// The tag's first word, with or without arguments (`for`, `macro`, ...).
    word: &'a str,
    /// Where the closing marks start: optional `-`/`+` then `%}`.
    tail_start: usize,
    /// `X` when the tag is `{% set X.attr = ... %}`.
    assigned_namespace: Option<&'a str>,
    /// The iterable expression when the tag is `{% for target in iterable %}`.
    iterable: Option<&'a str>,
    end: usize,
}

impl<'a> BlockTag<'a> {
    fn parse(source: &'a str, open: usize) -> Self {
        let after_open = open + 2;
        let bytes = source.as_bytes();
        let mut start = after_open;
        if matches!(bytes.get(start), Some(b'-' | b'+')) {
            start += 1;
        }
        while bytes.get(start).is_some_and(|b| b.is_ascii_whitespace()) {
            start += 1;
        }
        let word_len = source[start..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        let word = &source[start..start + word_len];
        let end = skip_tag(source, start + word_len, "%}");
        let inner = source[start + word_len..end].trim_end_matches("%}");
        let tail_start = start + word_len + inner.trim_end_matches(['-', '+']).len();
        let arguments = &source[start + word_len..tail_start];
        let assigned_namespace = if word == "set" { namespace_target(arguments) } else { None };
        let iterable = if word == "for" { arguments.split_once(" in ").map(|(_, iterable)| iterable) } else { None };
        // Only a bare keyword is the tag: `{% generation x %}` is left for the parser to reject.
        let keyword = if word == "set" || arguments.trim().is_empty() { word } else { "" };
        BlockTag { keyword_start: start, keyword, word, tail_start, assigned_namespace, iterable, end }
    }
}

/// `ns` in ` ns.attr = value`.
fn namespace_target(arguments: &str) -> Option<&str> {
    let arguments = arguments.trim_start();
    let name_len = arguments.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    let after = arguments[name_len..].trim_start();
    (name_len > 0 && after.starts_with('.')).then(|| &arguments[..name_len])
}

/// Position after `close`, skipping string literals on the way (a `%}` inside quotes does not end a tag).
fn skip_tag(source: &str, from: usize, close: &str) -> usize {
    let bytes = source.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => i = skip_string(bytes, i + 1, quote),
            _ if bytes[i..].starts_with(close.as_bytes()) => return i + close.len(),
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Position after the closing quote of a string literal that starts at `from`.
fn skip_string(bytes: &[u8], from: usize, quote: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_past(source: &str, from: usize, close: &str) -> usize {
    source[from..].find(close).map_or(source.len(), |at| from + at + close.len())
}

/// Position after the `{% endraw %}` that closes a raw block whose body starts at `from`.
fn skip_raw_body(source: &str, from: usize) -> usize {
    let mut pos = from;
    while let Some(offset) = source[pos..].find("{%") {
        let tag = BlockTag::parse(source, pos + offset);
        if tag.keyword == "endraw" {
            return tag.end;
        }
        pos = pos + offset + 2;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The call-block rewrite of every block.
    fn rewrite(source: &str) -> String {
        rewrite_generation_tags(source, false).source
    }

    fn direct(source: &str) -> String {
        rewrite_generation_tags(source, true).source
    }

    #[test]
    fn blocks_written_straight_to_the_output_become_two_statements() {
        assert_eq!(
            direct("a{%- generation %}b{% endgeneration -%}c"),
            "a{%- set __fm_span = __fm_generation_open() %}b{% set __fm_span = __fm_generation_close() -%}c"
        );
        // Inside loops and conditions; a `set`, `break` or `continue` in a loop of the body stays there.
        let source = "{% for m in ms %}{% if m %}{% generation %}{% for t in m.ts %}{% set t = t.f %}{% break %}\
                      {% endfor %}{{ loop.index }}{% endgeneration %}{% endif %}{% endfor %}";
        let out = direct(source);
        assert_eq!(out.matches("__fm_generation_open()").count(), 1, "{out}");
        assert_eq!(out.matches("__fm_generation_close()").count(), 1, "{out}");
    }

    #[test]
    fn blocks_that_differ_outside_a_call_stay_call_blocks() {
        for source in [
            // captured output somewhere in the template
            "{% macro m() %}x{% endmacro %}{% generation %}a{% endgeneration %}",
            "{% set s %}x{% endset %}{% generation %}a{% endgeneration %}",
            "{% filter upper %}x{% endfilter %}{% generation %}a{% endgeneration %}",
            "{% for x in y recursive %}{{ loop(x) }}{% endfor %}{% generation %}a{% endgeneration %}",
            // the body's own scope, loop controls and macro names
            "{% generation %}{% set x = 1 %}{% endgeneration %}{{ x }}",
            "{% for m in ms %}{% generation %}{% break %}{% endgeneration %}{% endfor %}",
            "{% generation %}{{ caller }}{% endgeneration %}",
        ] {
            assert_eq!(direct(source), rewrite(source), "{source}");
        }
        // A block holding another: both are call blocks; a later plain block is not.
        let out = direct("{% generation %}{% generation %}b{% endgeneration %}{% endgeneration %}{% generation %}c{% endgeneration %}");
        assert_eq!(out.matches("call __fm_generation()").count(), 2, "{out}");
        assert_eq!(out.matches("__fm_generation_open()").count(), 1, "{out}");
    }

    #[test]
    fn plain_tags() {
        assert_eq!(rewrite("a{% generation %}b{% endgeneration %}c"), "a{% call __fm_generation() %}b{% endcall %}c");
    }

    #[test]
    fn whitespace_control_marks_are_kept() {
        assert_eq!(
            rewrite("{%- generation -%}x{%+ endgeneration -%}"),
            "{%- call __fm_generation() -%}x{%+ endcall -%}"
        );
        assert_eq!(rewrite("{%-generation-%}x{%-endgeneration%}"), "{%-call __fm_generation()-%}x{%-endcall%}");
    }

    #[test]
    fn newlines_inside_the_tag_keep_line_numbers() {
        let out = rewrite("{%\n generation\n%}x{% endgeneration %}");
        assert_eq!(out.matches('\n').count(), 2);
        assert!(out.starts_with("{%\n call __fm_generation()\n%}"));
    }

    #[test]
    fn comments_raw_blocks_and_strings_are_untouched() {
        let source = "{# {% generation %} #}{% raw -%}{% generation %}{% endraw %}{{ '{% generation %}' }}\
                      {% set s = '%} {% generation %}' %}";
        let out = rewrite_generation_tags(source, true);
        assert_eq!(out.source, source);
        assert!(!out.has_generation);
    }

    #[test]
    fn raw_tag_keeps_its_newline_like_jinja2() {
        assert_eq!(rewrite("{% raw %}\nA{% endraw %}"), "{% raw +%}\nA{% endraw %}");
    }

    #[test]
    fn raw_block_with_whitespace_control() {
        let source = "{%- raw -%}{% generation %}{%- endraw -%}{% generation %}{% endgeneration %}";
        assert_eq!(
            rewrite(source),
            "{%- raw -%}{% generation %}{%- endraw -%}{% call __fm_generation() %}{% endcall %}"
        );
    }

    #[test]
    fn other_tags_and_lookalike_names_are_untouched() {
        let source = "{% for m in messages %}{% if generation_x %}{% endif %}{% endfor %}{% generationx %}";
        assert_eq!(rewrite(source), source);
    }

    #[test]
    fn tag_with_arguments_is_left_for_the_parser() {
        assert_eq!(rewrite("{% generation x %}"), "{% generation x %}");
    }

    #[test]
    fn nested_looped_and_macro_blocks() {
        let source = "{% macro m() %}{% generation %}{{ caller() }}{% endgeneration %}{% endmacro %}\
                      {% for x in y %}{% generation %}{% generation %}{% endgeneration %}{% endgeneration %}{% endfor %}";
        let out = rewrite_generation_tags(source, true);
        assert!(out.has_generation);
        assert_eq!(out.source.matches("call __fm_generation()").count(), 3);
        assert_eq!(out.source.matches("endcall").count(), 3);
        assert!(!out.source.contains("generation %}"));
    }

    #[test]
    fn namespaces_assigned_in_a_block_are_captured() {
        let out = rewrite("{%- generation -%}{% set ns.a = 1 %}{% set x = 2 %}{% set ns.b = 3 %}{%- endgeneration %}");
        assert_eq!(
            out,
            "{%- call __fm_generation() %}{% set __fm_captured = [ns] -%}{% set ns.a = 1 %}{% set x = 2 %}{% set ns.b = 3 %}{%- endcall %}"
        );
    }

    #[test]
    fn loop_is_captured_when_the_body_mentions_it() {
        assert_eq!(
            rewrite("{% generation %}{% for m in xs[loop.index:] %}{% endfor %}{% endgeneration %}"),
            "{% call __fm_generation() %}{% set __fm_captured = [xs, loop] %}{% for m in xs[loop.index:] %}{% endfor %}{% endcall %}"
        );
        assert_eq!(
            rewrite("{% generation %}{{ loops }}{% endgeneration %}"),
            "{% call __fm_generation() %}{{ loops }}{% endcall %}"
        );
    }

    #[test]
    fn variables_of_nested_for_iterables_are_captured() {
        assert_eq!(
            rewrite("{% generation %}{% for m in msgs[loop.index:] | select('x', k=v) if m.role == 'a' %}{% endfor %}{% endgeneration %}"),
            "{% call __fm_generation() %}{% set __fm_captured = [msgs, loop, v, m] %}\
             {% for m in msgs[loop.index:] | select('x', k=v) if m.role == 'a' %}{% endfor %}{% endcall %}"
        );
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        for source in ["{%", "{% generation", "{{ '", "{#", "{% raw %}", "{%-", "{% '\\"] {
            let _ = rewrite_generation_tags(source, true);
        }
    }
}
