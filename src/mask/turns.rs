//! Assistant spans for templates without `{% generation %}` tags, inferred from the template
//! itself: a turn starts where the prefix rendered up to it (with the generation prompt, for an
//! assistant turn) ends, and ends where the prefix rendered through it ends. Every prefix is
//! checked against the full render, so a template that rewrites earlier turns yields an error
//! naming the turn, never a shifted mask.

use minijinja::value::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::jinja::{ChatTemplate, Rendered, Span};
use crate::mask::conversation::{build_context, Conversation, RenderInputs};

/// Where assistant spans come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MaskSource {
    /// The template's `{% generation %}` blocks; an error when it has none.
    Generation,
    /// Spans inferred from the template's rendering of conversation prefixes.
    Turns,
    /// Generation blocks when the template has them, else turns.
    #[default]
    Auto,
    /// No spans: the text alone, for any template and conversation the template renders
    /// (generation blocks are dropped, turns are not inferred).
    None,
}

/// Which turns are trained, and which parts of a turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TurnOptions {
    /// Roles whose turns are trained.
    pub roles: Vec<String>,
    /// A message key whose boolean value overrides `roles` for that message (`"train": false`).
    pub train_key: Option<String>,
    /// Train only the last trained turn of each conversation.
    pub last_turn_only: bool,
    /// Keep the end-of-turn marker (e.g. `<|im_end|>`) in the span, so the model learns to stop.
    pub mask_end_of_turn: bool,
    /// Keep the whitespace that separates the turn from the next one (e.g. the `\n` after `<|im_end|>`).
    pub mask_separator: bool,
    /// Where an assistant turn's span starts; see [`TurnStart`].
    pub turn_start: TurnStart,
    /// Start the span before the whitespace that precedes its start (e.g. the `\n` after
    /// `<|im_start|>assistant`), as TRL's Qwen2.5 training template does.
    pub mask_header_whitespace: bool,
}

/// Where an assistant turn's span starts. A turn is rendered as a role header (what the template
/// writes before the reply, e.g. `<|im_start|>assistant\n`), maybe a prefill the generation prompt
/// adds on the header's line after it (`<think>\n`), then the reply. Turns of other trained roles
/// always start at their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnStart {
    /// After the whole generation prompt: what the model writes when it is prompted.
    Content,
    /// After the generation prompt's first line: a prefill such as `<think>\n` is trained.
    Prefill,
    /// At the role header: `<｜Assistant｜>` or `<|start|>assistant` is trained.
    Header,
}

impl Default for TurnOptions {
    fn default() -> Self {
        TurnOptions {
            roles: vec!["assistant".to_string()],
            train_key: Some("train".to_string()),
            last_turn_only: false,
            mask_end_of_turn: true,
            mask_separator: true,
            turn_start: TurnStart::Content,
            mask_header_whitespace: false,
        }
    }
}

/// Where spans come from and, for inferred turns, which are trained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MaskPlan {
    pub source: MaskSource,
    pub turns: TurnOptions,
}

impl MaskPlan {
    /// Refuses `Generation` for a template without `{% generation %}` blocks, which would give
    /// every conversation an all-zero mask.
    pub fn check(&self, template: &ChatTemplate) -> Result<()> {
        if self.source == MaskSource::Generation && !template.has_generation() {
            return Err(Error::input(
                "mask_source='generation' but the template has no {% generation %} blocks; \
                 use mask_source='turns' (or 'auto') to infer assistant turns",
            ));
        }
        Ok(())
    }

    /// Whether spans are inferred from turns (rather than taken from generation blocks, or none).
    pub fn infers_turns(&self, template: &ChatTemplate) -> bool {
        match self.source {
            MaskSource::Generation | MaskSource::None => false,
            MaskSource::Turns => true,
            MaskSource::Auto => !template.has_generation(),
        }
    }

    /// Renders one conversation with the spans this plan asks for. `Generation` on a template
    /// without tags gives no spans, as transformers does ([`MaskPlan::check`] refuses it first).
    pub fn render(
        &self,
        template: &ChatTemplate,
        conversation: &Conversation,
        inputs: &RenderInputs,
        special_tokens: &[(String, Value)],
    ) -> Result<Rendered> {
        if self.infers_turns(template) {
            return render_turns(template, conversation, inputs, special_tokens, &self.turns);
        }
        let mut rendered = template.render(build_context(conversation, inputs, special_tokens)?)?;
        if self.source == MaskSource::None {
            rendered.spans.clear();
        }
        Ok(rendered)
    }
}

/// Renders `conversation` and infers the spans of its trained turns.
pub fn render_turns(
    template: &ChatTemplate,
    conversation: &Conversation,
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &TurnOptions,
) -> Result<Rendered> {
    let trained = |index: usize| is_trained(&conversation.messages[index], options);
    render_selected_turns(template, conversation, inputs, special_tokens, options, trained)
}

/// Renders `conversation` and infers the spans of the turns `selected` picks (by message index),
/// with the turn options of `options` (its `roles` and `train_key` are not read here).
pub(crate) fn render_selected_turns(
    template: &ChatTemplate,
    conversation: &Conversation,
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &TurnOptions,
    selected: impl Fn(usize) -> bool,
) -> Result<Rendered> {
    let render = |count: usize, add_generation_prompt: bool| -> Result<String> {
        let prefix = Conversation { messages: conversation.messages[..count].to_vec() };
        let prefix_inputs = RenderInputs { add_generation_prompt, ..inputs.clone() };
        Ok(template.render(build_context(&prefix, &prefix_inputs, special_tokens)?)?.text)
    };
    let full = template.render(build_context(conversation, inputs, special_tokens)?)?;
    let mut byte_spans = Vec::new();
    for (index, message) in conversation.messages.iter().enumerate() {
        if !selected(index) {
            continue;
        }
        let is_assistant = role(message).as_deref() == Some("assistant");
        if index == 0 {
            // Templates add a default system prompt or a BOS based on messages[0], so the render
            // of an empty prefix says nothing about where the first turn starts.
            return Err(Error::input("a trained first message has no prefix to infer its start from").in_message(0));
        }
        let prompt = if is_assistant { Some(render(index, true).map_err(|err| turn_error(index, err))?) } else { None };
        let through = render(index + 1, false).map_err(|err| turn_error(index, err))?;
        let located = match content_turn(&full.text, prompt.as_deref(), &through, options.turn_start) {
            Some(turn) => Ok(turn),
            None => {
                let before = render(index, false).map_err(|err| turn_error(index, err))?;
                locate_turn(&full.text, &before, prompt.as_deref(), &through, options.turn_start)
            }
        };
        let (start, end) = located.map_err(|why| Error::new(ErrorKind::Template, why).in_message(index))?;
        byte_spans.push(
            trim_turn(&full.text, start, end, message, options)
                .map_err(|why| Error::new(ErrorKind::Input, why).in_message(index))?,
        );
    }
    if options.last_turn_only {
        byte_spans.drain(..byte_spans.len().saturating_sub(1));
    }
    let spans = byte_spans.into_iter().map(|(start, end)| span_of(&full.text, start, end)).collect();
    Ok(Rendered { text: full.text, spans })
}

fn turn_error(index: usize, err: Error) -> Error {
    Error::new(err.kind, format!("rendering the conversation up to this turn failed: {}", err.message))
        .in_message(index)
}

fn role(message: &Value) -> Option<String> {
    message.get_attr("role").ok().and_then(|role| role.as_str().map(str::to_string))
}

pub(crate) fn is_trained(message: &Value, options: &TurnOptions) -> bool {
    if let Some(key) = &options.train_key {
        if let Ok(flag) = message.get_attr(key) {
            if flag.kind() == minijinja::value::ValueKind::Bool {
                return flag.is_true();
            }
        }
    }
    role(message).is_some_and(|role| options.roles.contains(&role))
}

/// The common case without rendering the prefix before the turn: the generation prompt and the
/// render through the turn are both prefixes of `full`, so the turn's content lies between them.
fn content_turn(full: &str, prompt: Option<&str>, through: &str, turn_start: TurnStart) -> Option<(usize, usize)> {
    let prompt = prompt.filter(|prompt| turn_start == TurnStart::Content && full.starts_with(prompt))?;
    (full.starts_with(through) && through.len() >= prompt.len()).then_some((prompt.len(), through.len()))
}

/// The byte range of one turn in `full`, from the renders of the prefix before it (without and,
/// for assistant turns, with the generation prompt) and through it.
fn locate_turn(
    full: &str,
    before: &str,
    prompt: Option<&str>,
    through: &str,
    turn_start: TurnStart,
) -> std::result::Result<(usize, usize), String> {
    let content_start = match prompt {
        Some(prompt) if full.starts_with(prompt) => prompt.len(),
        // The turn starts after the part of the generation prompt that the full render shares: a
        // prompt may add more than the header (DeepSeek-R1's `<think>\n`), which a written turn lacks.
        Some(prompt) if full.starts_with(before) && prompt.starts_with(before) => {
            let shared = before.len() + common_prefix_len(&full[before.len()..], &prompt[before.len()..]);
            marker_start(full, shared).max(before.len())
        }
        None if full.starts_with(before) => before.len(),
        _ => {
            return Err("the template renders the earlier messages differently once later ones follow, \
                        so this turn's start cannot be located"
                .into())
        }
    };
    let start = match (prompt, turn_start) {
        (Some(_), TurnStart::Content) => content_start,
        (Some(prompt), TurnStart::Prefill) => prefill_start(before, prompt).min(content_start),
        (Some(_), TurnStart::Header) if full.starts_with(before) => before.len(),
        (Some(_), TurnStart::Header) => {
            return Err("the template renders the earlier messages differently once later ones follow, \
                        so this turn's header cannot be located"
                .into())
        }
        (None, _) => content_start,
    };
    if full.starts_with(through) && through.len() >= start {
        return Ok((start, through.len()));
    }
    if let Some(end) = end_before_closing(full, before, through, start) {
        return Ok((start, end));
    }
    // The turn renders differently when it is not the last message (Qwen3 drops the reasoning of
    // earlier turns, for example). Such changes sit at the turn's start, so its rendering in
    // `full` is the longest piece after `start` that is also how its last-message rendering ends.
    let Some(tail) = through.get(start..).filter(|_| through.starts_with(&full[..start])) else {
        return Err("the template renders the earlier messages differently when this turn is the last one".into());
    };
    longest_suffix_match(full, start, tail).map(|end| (start, end)).ok_or_else(|| {
        "the template renders this turn differently when it is not the last message, and its text \
         cannot be matched"
            .into()
    })
}

/// Where the turn ends when the render through it differs from `full` only by a closing the
/// template appends after the last message, whatever its role (Phi-3's `eos_token`): the closing
/// is the shortest common ending of `before` and `through` whose removal leaves a prefix of `full`.
fn end_before_closing(full: &str, before: &str, through: &str, start: usize) -> Option<usize> {
    let shared = common_prefix_len(full, through);
    let common_ending = common_suffix_len(before, through);
    (1..=common_ending).map(|closing| through.len() - closing).find_map(|cut| {
        let cut = marker_start(through, through.is_char_boundary(cut).then_some(cut)?);
        (cut >= start && cut <= shared && before.ends_with(&through[cut..])).then_some(cut)
    })
}

/// Moves a cut back to the start of a `<…>` marker it would split (`<|endoftext|>`, `<think>`):
/// renders that diverge at a marker share its first characters (`<|end…` and `<|user…`), which
/// are not a boundary of either.
fn marker_start(text: &str, cut: usize) -> usize {
    let head = &text[..cut];
    match head.rfind('<') {
        Some(open) if !head[open..].contains(|c: char| c == '>' || c.is_whitespace()) => open,
        _ => cut,
    }
}

/// Length in bytes of the longest common suffix, starting on a character boundary.
fn common_suffix_len(a: &str, b: &str) -> usize {
    a.chars().rev().zip(b.chars().rev()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum()
}

/// Where the generation prompt's first line and the whitespace after it end: the header,
/// without what the prompt prefills on later lines (Qwen3's `<think>\n`; Llama 3's blank line
/// after the header is still header). A prompt on one line prefills nothing.
fn prefill_start(before: &str, prompt: &str) -> usize {
    let Some(added) = prompt.get(before.len()..).filter(|_| prompt.starts_with(before)) else {
        return prompt.len();
    };
    let Some(newline) = added.find('\n') else { return prompt.len() };
    let rest = &added[newline..];
    prompt.len() - rest.trim_start_matches(char::is_whitespace).len()
}

/// Length in bytes of the longest common prefix, ending on a character boundary.
fn common_prefix_len(a: &str, b: &str) -> usize {
    a.char_indices().zip(b.chars()).find(|((_, x), y)| x != y).map_or_else(|| a.len().min(b.len()), |((at, _), _)| at)
}

/// The largest `end` such that `full[start..end]` is a non-empty suffix of `tail`.
fn longest_suffix_match(full: &str, start: usize, tail: &str) -> Option<usize> {
    let longest = tail.len().min(full.len() - start);
    (1..=longest).rev().find_map(|length| {
        let end = start + length;
        let piece = full.get(start..end)?;
        tail.ends_with(piece).then_some(end)
    })
}

/// Applies the end-of-turn, separator and header-whitespace options to a turn's byte range.
fn trim_turn(
    full: &str,
    start: usize,
    end: usize,
    message: &Value,
    options: &TurnOptions,
) -> std::result::Result<(usize, usize), String> {
    let mut start = start;
    let mut end = end;
    if options.mask_header_whitespace {
        start = full[..start].trim_end_matches(char::is_whitespace).len();
    }
    if !options.mask_separator || !options.mask_end_of_turn {
        end = start.max(full[..end].trim_end_matches(char::is_whitespace).len());
    }
    if !options.mask_end_of_turn {
        let content = message.get_attr("content").ok();
        let text = content.as_ref().and_then(|c| c.as_str()).map(str::trim_end).unwrap_or_default();
        let found = (!text.is_empty()).then(|| full[start..end].rfind(text)).flatten();
        let Some(at) = found else {
            return Err("mask_end_of_turn=False needs the message content to appear verbatim in its turn".into());
        };
        end = start + at + text.len();
    }
    Ok((start, end))
}

fn span_of(text: &str, start_byte: usize, end_byte: usize) -> Span {
    let start_char = text[..start_byte].chars().count();
    let end_char = start_char + text[start_byte..end_byte].chars().count();
    Span { start_byte, end_byte, start_char, end_char }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::Clock;

    const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                          {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    fn message(role: &str, content: &str) -> Value {
        Value::from_pairs([("role", Value::from(role)), ("content", Value::from(content))])
    }

    fn conversation(turns: &[(&str, &str)]) -> Conversation {
        Conversation { messages: turns.iter().map(|(r, c)| message(r, c)).collect() }
    }

    fn spans(source: &str, conv: &Conversation, options: &TurnOptions) -> Result<Vec<String>> {
        let template = ChatTemplate::compile(source, Clock::Local)?;
        let out = render_turns(&template, conv, &RenderInputs::default(), &[], options)?;
        Ok(out.spans.iter().map(|s| out.text[s.start_byte..s.end_byte].to_string()).collect())
    }

    fn chat() -> Conversation {
        conversation(&[("system", "S"), ("user", "hi"), ("assistant", "hello"), ("user", "q"), ("assistant", "a")])
    }

    #[test]
    fn assistant_turns_without_their_header() {
        assert_eq!(spans(CHATML, &chat(), &TurnOptions::default()).unwrap(), ["hello<|im_end|>\n", "a<|im_end|>\n"]);
    }

    #[test]
    fn separator_end_of_turn_and_header_whitespace_options() {
        let options = TurnOptions { mask_separator: false, ..Default::default() };
        assert_eq!(spans(CHATML, &chat(), &options).unwrap(), ["hello<|im_end|>", "a<|im_end|>"]);
        let options = TurnOptions { mask_end_of_turn: false, ..Default::default() };
        assert_eq!(spans(CHATML, &chat(), &options).unwrap(), ["hello", "a"]);
        let options = TurnOptions { mask_header_whitespace: true, ..Default::default() };
        assert_eq!(spans(CHATML, &chat(), &options).unwrap(), ["\nhello<|im_end|>\n", "\na<|im_end|>\n"]);
    }

    #[test]
    fn roles_overrides_and_last_turn_only() {
        let mut conv = chat();
        conv.messages[2] = Value::from_pairs([
            ("role", Value::from("assistant")),
            ("content", Value::from("hello")),
            ("train", Value::from(false)),
        ]);
        assert_eq!(spans(CHATML, &conv, &TurnOptions::default()).unwrap(), ["a<|im_end|>\n"]);
        let options = TurnOptions { roles: vec!["user".into()], ..Default::default() };
        assert_eq!(
            spans(CHATML, &chat(), &options).unwrap(),
            ["<|im_start|>user\nhi<|im_end|>\n", "<|im_start|>user\nq<|im_end|>\n"]
        );
        let options = TurnOptions { last_turn_only: true, ..Default::default() };
        assert_eq!(spans(CHATML, &chat(), &options).unwrap(), ["a<|im_end|>\n"]);
    }

    #[test]
    fn earlier_turns_rewritten_at_their_start_are_matched() {
        // Like Qwen3: reasoning is shown only on the last assistant turn.
        let source = "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if loop.last and m.think %}<think>{{ m.think }}</think>{% endif %}\
                      {{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let think = |content: &str| {
            Value::from_pairs([
                ("role", Value::from("assistant")),
                ("content", Value::from(content)),
                ("think", Value::from("r")),
            ])
        };
        let conv =
            Conversation { messages: vec![message("user", "q"), think("a1"), message("user", "q2"), think("a2")] };
        assert_eq!(
            spans(source, &conv, &TurnOptions::default()).unwrap(),
            ["a1<|im_end|>\n", "<think>r</think>a2<|im_end|>\n"]
        );
    }

    #[test]
    fn a_template_that_rewrites_history_is_an_error_naming_the_turn() {
        // The first turn's text depends on how many messages follow.
        let source = "{% for m in messages %}[{{ messages | length }}]{{ m.content }}{% endfor %}";
        let err =
            spans(source, &conversation(&[("user", "q"), ("assistant", "a")]), &TurnOptions::default()).unwrap_err();
        assert!(err.message.starts_with("message 1: "), "{}", err.message);
    }

    #[test]
    fn a_generation_prompt_longer_than_the_header_is_cut_to_what_the_turn_shares() {
        let source = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<assistant><think>\n{% endif %}";
        let conv = conversation(&[("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "<think>\nr")]);
        assert_eq!(spans(source, &conv, &TurnOptions::default()).unwrap(), ["a</s>", "r</s>"]);
    }

    #[test]
    fn a_closing_after_the_last_message_is_not_part_of_earlier_turns() {
        // Like Phi-3: an eos after the last message, whatever its role.
        let source = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}\
                      {% if add_generation_prompt %}<|assistant|>\n{% else %}<|endoftext|>{% endif %}";
        let conv = conversation(&[("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "b")]);
        assert_eq!(spans(source, &conv, &TurnOptions::default()).unwrap(), ["a<|end|>\n", "b<|end|>\n<|endoftext|>"]);
    }

    #[test]
    fn cuts_inside_a_marker_move_to_its_start() {
        assert_eq!(marker_start("ab<|end", 7), 2);
        assert_eq!(marker_start("ab<|end|>", 9), 9);
        assert_eq!(marker_start("a < b", 5), 5);
    }

    #[test]
    fn turn_start_takes_in_the_prefill_or_the_header() {
        let source = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                      {% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}";
        let conv = conversation(&[("user", "q"), ("assistant", "<think>\nr</think>a")]);
        assert_eq!(spans(source, &conv, &TurnOptions::default()).unwrap(), ["r</think>a<|im_end|>\n"]);
        let options = TurnOptions { turn_start: TurnStart::Prefill, ..Default::default() };
        assert_eq!(spans(source, &conv, &options).unwrap(), ["<think>\nr</think>a<|im_end|>\n"]);
        let options = TurnOptions { turn_start: TurnStart::Header, ..Default::default() };
        assert_eq!(spans(source, &conv, &options).unwrap(), ["<|im_start|>assistant\n<think>\nr</think>a<|im_end|>\n"]);
    }

    #[test]
    fn suffix_matching() {
        assert_eq!(longest_suffix_match("xxab|next", 2, "<t>ab"), Some(4));
        assert_eq!(longest_suffix_match("xxzz", 2, "ab"), None);
    }
}
