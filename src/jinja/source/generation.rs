//! Rewrites transformers' `{% generation %}` tag, which minijinja cannot parse, into a call block.
//!
//! `{%- generation -%}` becomes `{%- call __fm_generation() -%}` and `endgeneration` becomes
//! `endcall`: only the keyword is replaced, so whitespace-control marks, `trim_blocks` /
//! `lstrip_blocks` behaviour and line numbers stay exactly as written. Comments, `{{ }}`
//! expressions, string literals and `{% raw %}` bodies are skipped, so text that merely looks
//! like the tag is left alone.

/// Name of the function the rewritten call blocks invoke; registered by `render.rs`.
pub const GENERATION_FUNCTION: &str = "__fm_generation";

/// The rewritten source and whether it held at least one generation block.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    pub source: String,
    pub has_generation: bool,
}

/// Replaces every `generation` / `endgeneration` block tag by a call block.
pub fn rewrite_generation_tags(source: &str) -> Rewritten {
    let tags = scan_block_tags(source);
    let mut out = String::with_capacity(source.len() + 64);
    let mut copied_to = 0;
    for (index, tag) in tags.iter().enumerate() {
        match tag.keyword {
            "generation" => {
                out.push_str(&source[copied_to..tag.keyword_start]);
                out.push_str(&format!("call {GENERATION_FUNCTION}()"));
                let captured = names_to_capture(source, tag, &tags[index + 1..]);
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
fn names_to_capture<'a>(source: &'a str, open: &BlockTag<'a>, following: &[BlockTag<'a>]) -> Vec<&'a str> {
    let mut depth = 1;
    let mut names: Vec<&str> = Vec::new();
    let mut body_end = source.len();
    for tag in following {
        match tag.keyword {
            "generation" => depth += 1,
            "endgeneration" => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            body_end = tag.keyword_start;
            break;
        }
        let iterable_names = tag.iterable.map(identifiers).unwrap_or_default();
        for name in tag.assigned_namespace.into_iter().chain(iterable_names) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if mentions_word(&source[open.end..body_end], "loop") && !names.contains(&"loop") {
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
        BlockTag { keyword_start: start, keyword, tail_start, assigned_namespace, iterable, end }
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

    fn rewrite(source: &str) -> String {
        rewrite_generation_tags(source).source
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
        let out = rewrite_generation_tags(source);
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
        let out = rewrite_generation_tags(source);
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
            let _ = rewrite_generation_tags(source);
        }
    }
}
