//! Assistant spans for templates without `{% generation %}` tags, inferred from the template
//! itself: a turn starts where the prefix rendered up to it (with the generation prompt, for an
//! assistant turn) ends, and ends where the prefix rendered through it ends. Every prefix is
//! checked against the full render. Where earlier parts move once later messages follow (a
//! system prompt beside the last user message), the turn's own text is found in the full render
//! by the message contents around it (`markers`). A turn the template itself renders differently
//! once later messages follow (past reasoning dropped) is never trained as rewritten: it is an
//! error pointing to `expand_turns`, or left untrained on request. What cannot be verified is an
//! error naming the turn, never a shifted mask.

use std::borrow::Cow;

use minijinja::value::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::jinja::{ChatTemplate, Rendered, Span};
use crate::mask::conversation::{build_context, context_of_prepared, prepare_messages, Conversation, RenderInputs};
use crate::mask::markers::ContentMap;

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
    /// What to do with a turn the template renders differently once later messages follow.
    pub changed_turns: ChangedTurns,
}

/// A trained turn the template renders differently once later messages follow (it drops the
/// turn's reasoning, or ends it with another token): training the rewritten text would teach
/// the model something it never writes, so it is not trained as such.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ChangedTurns {
    /// An error naming the turn, pointing to `expand_turns`, which trains each turn as the
    /// template renders it when it is last.
    #[default]
    Error,
    /// The turn is left untrained; the turns the template renders whole are trained.
    Skip,
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
            changed_turns: ChangedTurns::Error,
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
    // Prepared once: every prefix render reads a slice of them.
    let prepared = prepare_messages(conversation)?;
    let render = |count: usize, add_generation_prompt: bool| -> Result<String> {
        let context = context_of_prepared(&prepared[..count], inputs, add_generation_prompt, special_tokens);
        Ok(template.render(context)?.text)
    };
    let full = template.render(context_of_prepared(&prepared, inputs, inputs.add_generation_prompt, special_tokens))?;
    // The contents of the first `count` messages placed in their render `text` (with the
    // contents as markers: one more render).
    let content_map_of = |count: usize, text: &str| -> Result<Option<ContentMap>> {
        let prefix = Conversation { messages: conversation.messages[..count].to_vec() };
        let whole = count == conversation.messages.len();
        ContentMap::build(template, &prefix, inputs, whole && inputs.add_generation_prompt, special_tokens, text)
    };
    // Built on the first turn that needs it.
    let mut content_map: Option<Option<ContentMap>> = None;
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
        let in_turn = |err: Error| turn_error(index, err);
        let prompt = if is_assistant { Some(render(index, true).map_err(in_turn)?) } else { None };
        // Through the last message, without a generation prompt, is the full render itself.
        let through = if index + 1 == conversation.messages.len() && !inputs.add_generation_prompt {
            full.text.clone()
        } else {
            render(index + 1, false).map_err(in_turn)?
        };
        let located = match content_turn(&full.text, prompt.as_deref(), &through, options.turn_start) {
            Some(turn) => Ok(turn),
            None => {
                let before = render(index, false).map_err(in_turn)?;
                match locate_turn(&full.text, &before, prompt.as_deref(), &through, options.turn_start) {
                    Ok(turn) => Ok(turn),
                    Err(Unlocated::Changed) if options.changed_turns == ChangedTurns::Skip => continue,
                    Err(Unlocated::Changed) => Err(CHANGED_TURN.to_string()),
                    Err(Unlocated::Moved(why)) => {
                        let map = match &content_map {
                            Some(map) => map,
                            None => content_map.insert(content_map_of(conversation.messages.len(), &full.text)?),
                        };
                        match map {
                            Some(map) => {
                                let renders =
                                    TurnRenders { before: &before, prompt: prompt.as_deref(), through: &through };
                                moved_turn(&full.text, map, index, &renders, &content_map_of, options.turn_start)
                            }
                            None => Err(UNVERIFIABLE.to_string()),
                        }
                        .map_err(|detail| format!("{why}; {detail}"))
                    }
                }
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

const UNVERIFIABLE: &str = "the template reads the message contents, so the turn cannot be verified";

const CHANGED_TURN: &str = "the template renders this turn differently once later messages follow (it drops or \
     rewrites part of it, such as its reasoning), so it cannot be trained as the model writes it in this \
     conversation; expand_turns=True trains each turn as the template renders it when it is the last message \
     (changed_turns='skip' leaves such turns untrained)";

/// Why a turn was not located by prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unlocated {
    /// Earlier parts of the render move once later messages follow.
    Moved(&'static str),
    /// The turn's own text is rendered differently once later messages follow.
    Changed,
}

/// The renders of the messages before a turn (without and, for an assistant turn, with the
/// generation prompt) and through it.
#[derive(Clone, Copy)]
struct TurnRenders<'a> {
    before: &'a str,
    prompt: Option<&'a str>,
    through: &'a str,
}

/// Locates a turn whose surroundings move: its text as the template renders it when it is last
/// (located in `through`, the render through it), found in `full` by the contents around it.
/// The text may end with a closing the template adds after the last message only (Phi-3's eos),
/// so without that closing it is looked for too.
fn moved_turn(
    full: &str,
    full_map: &ContentMap,
    index: usize,
    renders: &TurnRenders,
    content_map_of: &dyn Fn(usize, &str) -> Result<Option<ContentMap>>,
    turn_start: TurnStart,
) -> std::result::Result<(usize, usize), String> {
    let TurnRenders { before, prompt, through } = *renders;
    let start = match locate_turn(through, before, prompt, through, turn_start) {
        Ok((start, _)) => start,
        Err(_) => anchored_turn_start(index, renders, content_map_of, turn_start)?,
    };
    full_map.locate(full, index, &through[start..]).or_else(|err| {
        let cut = end_before_closing(through, before, through, start).ok_or(err.clone())?;
        full_map.locate(full, index, &through[start..cut]).map_err(|_| err)
    })
}

/// Where the last turn of `through` starts when even the render before it is not a prefix of it
/// (the system prompt moves to the last user message, or a tool result closes differently once
/// an assistant turn follows): after the end of the contents before the turn, at the first
/// occurrence there of the generation prompt's addition (`<|im_start|>assistant\n`; the first,
/// since the turn may hold several headers, as gpt-oss writes one per channel), or, for a template whose generation
/// prompt adds nothing, after what the render before the turn writes after those contents.
fn anchored_turn_start(
    index: usize,
    renders: &TurnRenders,
    content_map_of: &dyn Fn(usize, &str) -> Result<Option<ContentMap>>,
    turn_start: TurnStart,
) -> std::result::Result<usize, String> {
    let TurnRenders { before, prompt, through } = *renders;
    let through_map = content_map_of(index + 1, through).map_err(|err| err.message)?.ok_or(UNVERIFIABLE)?;
    let anchor = through_map.end_before(index);
    let own_start = through_map.start_of(index).unwrap_or(through.len());
    let added =
        prompt.map(|prompt| &prompt[marker_start(prompt, common_prefix_len(before, prompt))..]).unwrap_or_default();
    if added.is_empty() {
        let before_map = content_map_of(index, before).map_err(|err| err.message)?.ok_or(UNVERIFIABLE)?;
        let closing = &before[before_map.end_before(index)..];
        return through[anchor..]
            .starts_with(closing)
            .then_some(anchor + closing.len())
            .ok_or_else(|| "the turn cannot be located in the render that ends with it".to_string());
    }
    let header = through
        .get(anchor..own_start)
        .and_then(|window| window.find(added))
        .map(|at| anchor + at)
        .ok_or("the generation prompt is not found before the turn in the render that ends with it")?;
    Ok(match turn_start {
        TurnStart::Content => header + added.len(),
        TurnStart::Prefill => {
            let prompt = prompt.unwrap_or_default();
            header + prefill_start(&prompt[..prompt.len() - added.len()], prompt) - (prompt.len() - added.len())
        }
        TurnStart::Header => header,
    })
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
) -> std::result::Result<(usize, usize), Unlocated> {
    const EARLIER_MOVE: &str = "the template renders the earlier messages differently once later ones follow";
    let written = before;
    let (before, prompt) = without_closing(full, before, prompt, through);
    let prompt = prompt.as_deref();
    let content_start = match prompt {
        Some(prompt) if full.starts_with(prompt) => prompt.len(),
        // The turn starts after the part of the generation prompt that the full render shares: a
        // prompt may add more than the header (DeepSeek-R1's `<think>\n`), which a written turn lacks.
        Some(prompt) if full.starts_with(before) && prompt.starts_with(before) => {
            let shared = before.len() + common_prefix_len(&full[before.len()..], &prompt[before.len()..]);
            marker_start(full, shared).max(before.len())
        }
        None if full.starts_with(before) => before.len(),
        _ => return Err(Unlocated::Moved(EARLIER_MOVE)),
    };
    let start = match (prompt, turn_start) {
        (Some(_), TurnStart::Content) => content_start,
        (Some(prompt), TurnStart::Prefill) => prefill_start(before, prompt).min(content_start),
        (Some(_), TurnStart::Header) if full.starts_with(before) => before.len(),
        (Some(_), TurnStart::Header) => return Err(Unlocated::Moved(EARLIER_MOVE)),
        (None, _) => content_start,
    };
    if full.starts_with(through) && through.len() >= start {
        return Ok((start, through.len()));
    }
    if let Some(end) = end_before_closing(full, written, through, start) {
        return Ok((start, end));
    }
    let before_shared = full.starts_with(before) && through.starts_with(before);
    if !through.starts_with(&full[..start]) && !before_shared {
        return Err(Unlocated::Moved(
            "the template renders the earlier messages differently when this turn is the last one",
        ));
    }
    // The render through the turn agrees with `full` before the turn, and neither it nor it
    // without a closing added after the last message is a prefix of `full`: the turn itself is
    // rendered differently once later messages follow.
    Err(Unlocated::Changed)
}

/// `before` and `prompt` without a closing the template writes after the last message of every
/// render (Command R7B's tool-use template opens a chatbot turn after each, Command R+'s adds a
/// system instruction), which is not part of what a later turn follows: the part of `before`
/// that `full` does not share, when `full` and `through` end with it too and the generation
/// prompt keeps it (at its end, or before what it adds). Unchanged when `before` is a prefix of
/// `full`, or when the prompt replaces that part (gpt-oss' `<|return|>`, which a prompt turns
/// into `<|end|>`: a last turn's own ending, not a closing).
fn without_closing<'a>(
    full: &str,
    before: &'a str,
    prompt: Option<&'a str>,
    through: &str,
) -> (&'a str, Option<Cow<'a, str>>) {
    let unchanged = (before, prompt.map(Cow::Borrowed));
    if full.starts_with(before) {
        return unchanged;
    }
    let shared = marker_start(before, common_prefix_len(full, before));
    let (head, closing) = before.split_at(shared);
    if closing.is_empty() || !full.ends_with(closing) || !through.ends_with(closing) {
        return unchanged;
    }
    let prompt = match prompt {
        None => None,
        Some(prompt) => match (prompt.strip_suffix(closing), prompt.strip_prefix(before)) {
            (Some(opened), _) if opened.starts_with(head) => Some(Cow::Borrowed(opened)),
            (_, Some(added)) => Some(Cow::Owned([head, added].concat())),
            _ => return unchanged,
        },
    };
    (head, prompt)
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
    fn a_turn_the_template_rewrites_is_an_error_or_left_untrained() {
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
        let err = spans(source, &conv, &TurnOptions::default()).unwrap_err();
        assert!(err.message.starts_with("message 1: "), "{}", err.message);
        assert!(err.message.contains("expand_turns=True"), "{}", err.message);
        let options = TurnOptions { changed_turns: ChangedTurns::Skip, ..Default::default() };
        assert_eq!(spans(source, &conv, &options).unwrap(), ["<think>r</think>a2<|im_end|>\n"]);
    }

    /// Like Mistral's v3 templates: the system prompt is written into the last user message.
    const SYSTEM_BESIDE_LAST_USER: &str = "{% set sys = messages | selectattr('role', 'eq', 'system') | list %}\
        {% set convo = messages | rejectattr('role', 'eq', 'system') | list %}<s>\
        {% for m in convo %}{% if m.role == 'user' %}[INST] {% if loop.index0 == convo | length - 1 or \
        loop.index0 == convo | length - 2 %}{% if sys %}{{ sys[0].content }}\n\n{% endif %}{% endif %}{{ m.content }}[/INST]\
        {% else %} {{ m.content }}</s>{% endif %}{% endfor %}";

    #[test]
    fn turns_are_found_where_only_their_surroundings_move() {
        let conv =
            conversation(&[("system", "S"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]);
        assert_eq!(spans(SYSTEM_BESIDE_LAST_USER, &conv, &TurnOptions::default()).unwrap(), [" a1</s>", " a2</s>"]);
        let options = TurnOptions { mask_end_of_turn: false, ..Default::default() };
        assert_eq!(spans(SYSTEM_BESIDE_LAST_USER, &conv, &options).unwrap(), [" a1", " a2"]);
    }

    #[test]
    fn a_template_that_refuses_the_markers_cannot_be_verified() {
        let source = SYSTEM_BESIDE_LAST_USER.replace(
            "{{ m.content }}</s>",
            "{% if m.content[:1] != 'a' %}{{ raise_exception('no') }}{% endif %}{{ m.content }}</s>",
        );
        let template = ChatTemplate::compile(&source, Clock::Local).unwrap();
        let conv =
            conversation(&[("system", "S"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]);
        let err = render_turns(&template, &conv, &RenderInputs::default(), &[], &TurnOptions::default()).unwrap_err();
        assert!(err.message.starts_with("message 2: "), "{}", err.message);
        assert!(err.message.contains("cannot be verified"), "{}", err.message);
    }

    #[test]
    fn a_moved_turn_whose_text_is_ambiguous_or_missing_is_an_error() {
        // The assistant content equals the user's: the turn's text (" x</s>") is found once,
        // but the content map cannot tell the contents apart only by text, so it checks places.
        let conv =
            conversation(&[("system", "S"), ("user", "x"), ("assistant", "x"), ("user", "q2"), ("assistant", "a2")]);
        let got = spans(SYSTEM_BESIDE_LAST_USER, &conv, &TurnOptions::default()).unwrap();
        assert_eq!(got, [" x</s>", " a2</s>"]);
        // A template that reads the contents (prints their length) cannot be verified by markers.
        let source =
            SYSTEM_BESIDE_LAST_USER.replace("{{ m.content }}</s>", "{{ m.content }}{{ m.content | length }}</s>");
        let conv =
            conversation(&[("system", "S"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]);
        let err = spans(&source, &conv, &TurnOptions::default()).unwrap_err();
        assert!(err.message.starts_with("message 2: "), "{}", err.message);
        assert!(err.message.contains("cannot be verified"), "{}", err.message);
    }

    #[test]
    fn a_template_that_rewrites_history_is_located_by_contents_or_an_error_naming_the_turn() {
        // The first turn's text depends on how many messages follow; each content stays whole.
        let source = "{% for m in messages %}[{{ messages | length }}]{{ m.content }}{% endfor %}";
        let conv = conversation(&[("user", "q"), ("assistant", "a")]);
        assert_eq!(spans(source, &conv, &TurnOptions::default()).unwrap(), ["[2]a"]);
        // Contents printed reversed cannot be placed, so nothing can be verified.
        let source = "{% for m in messages %}[{{ messages | length }}]{{ m.content | reverse }}{% endfor %}";
        let err = spans(source, &conv, &TurnOptions::default()).unwrap_err();
        assert!(err.message.starts_with("message 1: "), "{}", err.message);
        assert!(err.message.contains("cannot be verified"), "{}", err.message);
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
}
