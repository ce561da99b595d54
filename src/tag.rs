//! Rewrites transformers' `{% generation %}` tag, which minijinja cannot parse, into a call block.
//!
//! `{%- generation -%}` becomes `{%- call __fm_generation() -%}` and `endgeneration` becomes
//! `endcall`: only the keyword is replaced, so whitespace-control marks, `trim_blocks` /
//! `lstrip_blocks` behaviour and line numbers stay exactly as written. Comments, `{{ }}`
//! expressions, string literals and `{% raw %}` bodies are skipped, so text that merely looks
//! like the tag is left alone.

/// Name of the function the rewritten call blocks invoke; registered by `template.rs`.
pub const GENERATION_FUNCTION: &str = "__fm_generation";

/// The rewritten source and whether it held at least one generation block.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    pub source: String,
    pub has_generation: bool,
}

/// Replaces every `generation` / `endgeneration` block tag by a call block.
pub fn rewrite_generation_tags(source: &str) -> Rewritten {
    let mut out = String::with_capacity(source.len() + 64);
    let mut has_generation = false;
    let mut copied_to = 0;
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
            match tag.keyword {
                "generation" | "endgeneration" => {
                    let replacement = if tag.keyword == "generation" {
                        format!("call {GENERATION_FUNCTION}()")
                    } else {
                        "endcall".to_string()
                    };
                    out.push_str(&source[copied_to..tag.keyword_start]);
                    out.push_str(&replacement);
                    copied_to = tag.keyword_start + tag.keyword.len();
                    has_generation = true;
                    pos = tag.end;
                }
                "raw" => pos = skip_raw_body(source, tag.end),
                _ => pos = tag.end,
            }
        } else {
            pos = open + 1;
        }
    }
    out.push_str(&source[copied_to..]);
    Rewritten { source: out, has_generation }
}

/// A `{% ... %}` tag: where its first word starts, the word, and the byte after `%}`.
struct BlockTag<'a> {
    keyword_start: usize,
    keyword: &'a str,
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
        let word_len = source[start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let keyword = &source[start..start + word_len];
        let end = skip_tag(source, start + word_len, "%}");
        // Only a bare keyword is the tag: `{% generation x %}` is left for the parser to reject.
        let tail = source[start + word_len..end].trim_end_matches("%}");
        let tail = tail.trim_end_matches(['-', '+']);
        let keyword = if tail.trim().is_empty() { keyword } else { "" };
        BlockTag { keyword_start: start, keyword, end }
    }
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
        assert_eq!(
            rewrite("a{% generation %}b{% endgeneration %}c"),
            "a{% call __fm_generation() %}b{% endcall %}c"
        );
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
        let source = "{# {% generation %} #}{% raw %}{% generation %}{% endraw %}{{ '{% generation %}' }}\
                      {% set s = '%} {% generation %}' %}";
        let out = rewrite_generation_tags(source);
        assert_eq!(out.source, source);
        assert!(!out.has_generation);
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
    fn unterminated_input_does_not_panic() {
        for source in ["{%", "{% generation", "{{ '", "{#", "{% raw %}", "{%-", "{% '\\"] {
            let _ = rewrite_generation_tags(source);
        }
    }
}
