//! The pipeline's entry points: a `ChatEncoder` (template, tokenizer, special tokens, pad token and
//! the tokenizer's defaults) renders and encodes batches, each call with one `CallOptions` value.
//! One task per conversation runs on the pool `runtime` owns; results keep the input order, and
//! when a call fails, it is with the error of the lowest failing index.

use std::sync::Arc;

use minijinja::value::Value;

use crate::error::{Error, Result};
use crate::jinja::{ChatTemplate, Rendered};
use crate::mask::conversation::{RenderInputs, ToConversation};
use crate::mask::encode::{encode_rendered, pad_batch, EncodeOptions, Encoded, PaddingStrategy};
use crate::mask::expand::{expand_turns, TurnRow};
use crate::mask::turns::{MaskPlan, MaskSource};
use crate::runtime::phases::{timed, Phase};
use crate::runtime::pool::{check_thread_count, run_each, run_indexed, run_produced, Threads};
use crate::tokenizer::{Side, Tokenizer};

/// A compiled template and the tokenizer it encodes for: immutable, shared by every thread of
/// every call.
pub struct ChatEncoder {
    pub template: ChatTemplate,
    /// Shared by the encoders `with_template` derives: loading a vocabulary is the slow part.
    pub tokenizer: Arc<Tokenizer>,
    /// Template variables such as `bos_token`; a call's own variables override them.
    pub special_tokens: Vec<(String, Value)>,
    /// The id padding uses; asking for padding without one is an error.
    pub pad_id: Option<u32>,
    pub defaults: TokenizerDefaults,
}

/// What a tokenizer decides for the calls that leave it open: transformers' `padding_side`,
/// `truncation_side` and `model_max_length`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenizerDefaults {
    pub padding_side: Side,
    pub truncation_side: Side,
    /// The length truncation and `padding='max_length'` fall back to; None: no limit.
    pub model_max_length: Option<usize>,
}

/// Everything one call decides besides its conversations and its template inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CallOptions {
    /// Where assistant spans come from and which turns are trained.
    pub masks: MaskPlan,
    pub tokens: TokenOptions,
    pub layout: Layout,
    pub threads: Threads,
    pub on_error: ErrorPolicy,
    /// One row per trained turn (`mask::expand`) instead of one per conversation.
    pub expand_turns: bool,
}

/// Tokenization as a call asks for it, named as in transformers; [`ChatEncoder::encode_options`]
/// completes it with the tokenizer's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenOptions {
    /// None: no limit, or the tokenizer's `model_max_length` where a length is needed.
    pub max_length: Option<usize>,
    pub truncation: bool,
    /// None: the tokenizer's side.
    pub truncation_side: Option<Side>,
    pub padding: PaddingStrategy,
    /// None: the tokenizer's side.
    pub padding_side: Option<Side>,
    /// The label of tokens outside the assistant mask and of padding.
    pub ignore_index: i64,
    /// Control tokens marked in user data are encoded as text (`mask::sanitize`).
    pub sanitize_control_tokens: bool,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            max_length: None,
            truncation: false,
            truncation_side: None,
            padding: PaddingStrategy::DoNotPad,
            padding_side: None,
            ignore_index: -100,
            sanitize_control_tokens: false,
        }
    }
}

/// How a batch's rows are handed back: as lists or Arrow arrays of padded rows, or as rectangular
/// arrays, which are padded while they are filled (`arrow::matrix`), so their rows are encoded
/// unpadded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    #[default]
    Lists,
    Arrays,
    Arrow,
}

/// What a batch does with a conversation that fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ErrorPolicy {
    /// The call fails, with the lowest failing index.
    #[default]
    Raise,
    /// Failing conversations are left out; their errors come back beside the rows.
    Skip,
    /// As `Skip`; the caller then puts an empty row back where each conversation failed, which a
    /// rectangular array cannot hold.
    Collect,
}

impl CallOptions {
    /// Refuses what no tokenizer could run, before any work is done.
    pub fn validate(&self) -> Result<()> {
        if let Some(threads) = self.threads {
            check_thread_count(threads)?;
        }
        if self.on_error == ErrorPolicy::Collect && self.layout == Layout::Arrays {
            return Err(Error::input(
                "on_error='collect' keeps a None row where a conversation failed, which an array cannot hold: \
                 use on_error='skip', or return_tensors=None or 'arrow'",
            ));
        }
        if self.expand_turns && self.on_error == ErrorPolicy::Collect {
            return Err(Error::input(
                "on_error='collect' keeps one row per conversation, but expand_turns=True gives a conversation \
                 one row per trained turn: use on_error='skip' (errors name the conversation; rows carry \
                 conversation_index)",
            ));
        }
        if self.expand_turns && self.masks.source == MaskSource::None {
            return Err(Error::input(
                "expand_turns=True makes a row per trained turn, and mask_source='none' trains none",
            ));
        }
        Ok(())
    }
}

/// The rows of the conversations that succeeded, in input order, and the errors of those that
/// failed, each naming its conversation (none under `ErrorPolicy::Raise`: the call fails instead).
#[derive(Debug, Default)]
pub struct EncodedBatch {
    pub rows: Vec<Encoded>,
    pub errors: Vec<Error>,
    /// With `expand_turns`, each row's (conversation index, message index of its trained turn);
    /// empty otherwise.
    pub origins: Vec<(usize, usize)>,
}

/// The rows one conversation makes: one without a turn index, or with `expand_turns` one per
/// trained turn, each with its message index.
type Rows = Vec<(Option<usize>, Encoded)>;

impl EncodedBatch {
    fn new(results: Vec<Result<Rows>>, policy: ErrorPolicy) -> Result<Self> {
        let mut batch = EncodedBatch::default();
        for (conversation, result) in results.into_iter().enumerate() {
            match result {
                Ok(rows) => {
                    for (turn, row) in rows {
                        batch.rows.push(row);
                        batch.origins.extend(turn.map(|turn| (conversation, turn)));
                    }
                }
                Err(err) if policy == ErrorPolicy::Raise => return Err(err),
                Err(err) => batch.errors.push(err),
            }
        }
        Ok(batch)
    }
}

impl ChatEncoder {
    /// The encoder of `template` for `tokenizer`; `pad_token` must be in its vocabulary.
    pub fn new(
        template: ChatTemplate,
        tokenizer: Arc<Tokenizer>,
        special_tokens: Vec<(String, Value)>,
        pad_token: Option<&str>,
        defaults: TokenizerDefaults,
    ) -> Result<Self> {
        let pad_id = pad_token
            .map(|token| {
                tokenizer
                    .token_to_id(token)
                    .ok_or_else(|| Error::tokenizer(format!("pad token {token:?} is not in the vocabulary")))
            })
            .transpose()?;
        Ok(ChatEncoder { template, tokenizer, special_tokens, pad_id, defaults })
    }

    /// This encoder with another template; the tokenizer is shared, not loaded again.
    pub fn with_template(&self, template: ChatTemplate) -> Self {
        ChatEncoder {
            template,
            tokenizer: Arc::clone(&self.tokenizer),
            special_tokens: self.special_tokens.clone(),
            pad_id: self.pad_id,
            defaults: self.defaults,
        }
    }

    /// Renders every conversation, with the spans `options.masks` asks for.
    pub fn render_batch(
        &self,
        conversations: &[impl ToConversation],
        inputs: &RenderInputs,
        options: &CallOptions,
    ) -> Result<Vec<Rendered>> {
        self.check(inputs, options)?;
        run_indexed(conversations, options.threads, |conversation| self.render(conversation, inputs, &options.masks))
    }

    /// `render_batch` with one row per trained turn: each conversation's rows (`mask::expand`).
    pub fn render_turn_rows(
        &self,
        conversations: &[impl ToConversation],
        inputs: &RenderInputs,
        options: &CallOptions,
    ) -> Result<Vec<Vec<TurnRow>>> {
        self.check(inputs, options)?;
        run_indexed(conversations, options.threads, |conversation| self.expand(conversation, inputs, &options.masks))
    }

    /// Renders, tokenizes, truncates, masks and pads every conversation; `options.on_error` says
    /// whether a failing conversation fails the call or is left out.
    pub fn encode_batch(
        &self,
        conversations: &[impl ToConversation],
        inputs: &RenderInputs,
        options: &CallOptions,
    ) -> Result<EncodedBatch> {
        EncodedBatch::new(self.encode_each(conversations, inputs, options)?, options.on_error)
    }

    /// One result per conversation (its rows), each error naming its index, and padding computed
    /// over the rows of the conversations that succeeded. Errors in the options still fail the
    /// whole call.
    fn encode_each(
        &self,
        conversations: &[impl ToConversation],
        inputs: &RenderInputs,
        options: &CallOptions,
    ) -> Result<Vec<Result<Rows>>> {
        let rows = self.row_options(inputs, options)?;
        let results = run_each(conversations, options.threads, |c| self.encode(c, inputs, options, &rows))?;
        pad_good(results, &rows)
    }

    /// `encode_batch` of `count` conversations that `produce` makes one by one on the calling
    /// thread, in order, while the pool already encodes those it made. Converting Python objects
    /// holds the interpreter, so it cannot run in parallel; overlapping it with the parallel work
    /// keeps it from being a serial phase before all of it. An error of `produce` is the call's
    /// error, as if every conversation had been converted first.
    pub fn encode_produced<C: ToConversation + Send + Sync>(
        &self,
        count: usize,
        produce: impl FnOnce(&mut dyn FnMut(C)) -> Result<()>,
        inputs: &RenderInputs,
        options: &CallOptions,
    ) -> Result<EncodedBatch> {
        let rows = self.row_options(inputs, options)?;
        let results = run_produced(options.threads, count, produce, |c: &C| self.encode(c, inputs, options, &rows))?;
        EncodedBatch::new(pad_good(results, &rows)?, options.on_error)
    }

    /// Tokenizes already-rendered texts (no assistant spans) with the call's truncation and
    /// padding. The texts are taken as they are (`sanitize_control_tokens` does not apply), and
    /// every one must encode.
    pub fn encode_texts(&self, texts: &[String], options: &CallOptions) -> Result<Vec<Encoded>> {
        options.validate()?;
        let tokens = TokenOptions { sanitize_control_tokens: false, ..options.tokens.clone() };
        let rows = rows_for(self.encode_options(&tokens)?, options.layout);
        let mut batch = run_indexed(texts, options.threads, |text| {
            encode_rendered(&Rendered { text: text.clone(), spans: Vec::new() }, &self.tokenizer, &rows)
        })?;
        pad_batch(&mut batch, &rows)?;
        Ok(batch)
    }

    /// The options a call's rows are encoded and padded with: the call's, with the tokenizer's
    /// sides, and with its `model_max_length` where truncation or `padding='max_length'` needs a
    /// length the call did not give (transformers' fallback; with neither, truncation is off).
    /// Combinations transformers rejects are errors.
    pub fn encode_options(&self, tokens: &TokenOptions) -> Result<EncodeOptions> {
        let mut max_length = tokens.max_length;
        let mut truncation = tokens.truncation;
        let to_max_length = tokens.padding == PaddingStrategy::MaxLength;
        if max_length.is_none() && (truncation || to_max_length) {
            max_length = self.defaults.model_max_length;
            truncation &= max_length.is_some() || to_max_length;
        }
        let options = EncodeOptions {
            max_length,
            truncation,
            truncation_side: tokens.truncation_side.unwrap_or(self.defaults.truncation_side),
            padding: tokens.padding,
            padding_side: tokens.padding_side.unwrap_or(self.defaults.padding_side),
            pad_id: self.pad_id,
            ignore_index: tokens.ignore_index,
            sanitize_control_tokens: tokens.sanitize_control_tokens,
        };
        options.validate()?;
        Ok(options)
    }

    fn check(&self, inputs: &RenderInputs, options: &CallOptions) -> Result<()> {
        options.validate()?;
        options.masks.check(&self.template)?;
        if options.expand_turns && inputs.add_generation_prompt {
            return Err(Error::input(
                "expand_turns=True ends each row with its trained turn, which add_generation_prompt=True would follow \
                 with a prompt: leave add_generation_prompt False",
            ));
        }
        inputs.validate()
    }

    fn row_options(&self, inputs: &RenderInputs, options: &CallOptions) -> Result<EncodeOptions> {
        self.check(inputs, options)?;
        Ok(rows_for(self.encode_options(&options.tokens)?, options.layout))
    }

    fn render(&self, conversation: &impl ToConversation, inputs: &RenderInputs, plan: &MaskPlan) -> Result<Rendered> {
        let conversation = timed(Phase::Values, || conversation.to_conversation())?;
        timed(Phase::Render, || plan.render(&self.template, &conversation, inputs, &self.special_tokens))
    }

    fn expand(
        &self,
        conversation: &impl ToConversation,
        inputs: &RenderInputs,
        plan: &MaskPlan,
    ) -> Result<Vec<TurnRow>> {
        let conversation = timed(Phase::Values, || conversation.to_conversation())?;
        timed(Phase::Render, || expand_turns(plan, &self.template, &conversation, inputs, &self.special_tokens))
    }

    fn encode(
        &self,
        conversation: &impl ToConversation,
        inputs: &RenderInputs,
        options: &CallOptions,
        rows: &EncodeOptions,
    ) -> Result<Rows> {
        if !options.expand_turns {
            let rendered = self.render(conversation, inputs, &options.masks)?;
            return Ok(vec![(None, encode_rendered(&rendered, &self.tokenizer, rows)?)]);
        }
        let turns = self.expand(conversation, inputs, &options.masks)?;
        let encode = |(turn, rendered): TurnRow| Ok((Some(turn), encode_rendered(&rendered, &self.tokenizer, rows)?));
        turns.into_iter().map(encode).collect()
    }
}

/// The options rows are encoded with in `layout`: unpadded for arrays, which are padded as they
/// are filled.
fn rows_for(options: EncodeOptions, layout: Layout) -> EncodeOptions {
    match layout {
        Layout::Arrays => EncodeOptions { padding: PaddingStrategy::DoNotPad, ..options },
        Layout::Lists | Layout::Arrow => options,
    }
}

/// Pads the rows of the results that succeeded among themselves.
fn pad_good(mut results: Vec<Result<Rows>>, options: &EncodeOptions) -> Result<Vec<Result<Rows>>> {
    fn slots(results: &mut [Result<Rows>]) -> impl Iterator<Item = &mut Encoded> {
        results.iter_mut().filter_map(|r| r.as_mut().ok()).flatten().map(|(_, row)| row)
    }
    let mut good: Vec<Encoded> = slots(&mut results).map(std::mem::take).collect();
    pad_batch(&mut good, options)?;
    for (slot, encoded) in slots(&mut results).zip(good) {
        *slot = encoded;
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::Clock;
    use crate::mask::conversation::Conversation;
    use crate::mask::turns::MaskSource;

    /// A word-level tokenizer: "a"=0, "b"=1, "[UNK]"=2.
    const WORD_LEVEL: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"a":0,"b":1,"[UNK]":2},"unk_token":"[UNK]"}}"#;

    const RAISES_ON_BAD: &str = "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}\
                                 {% endif %}{{ m.content }}{% endfor %}";

    fn encoder(source: &str, defaults: TokenizerDefaults) -> ChatEncoder {
        let template = ChatTemplate::compile(source, Clock::Local).unwrap();
        let tokenizer = Tokenizer::from_json(WORD_LEVEL, crate::tokenizer::Backend::Auto).unwrap();
        ChatEncoder::new(template, Arc::new(tokenizer), Vec::new(), Some("a"), defaults).unwrap()
    }

    fn message(role: &str, content: &str) -> Value {
        Value::from_pairs([("role", Value::from(role)), ("content", Value::from(content))])
    }

    fn conversations(contents: &[&str]) -> Vec<Conversation> {
        contents.iter().map(|c| Conversation { messages: vec![message("user", c)] }).collect()
    }

    fn threads(threads: usize) -> CallOptions {
        CallOptions { threads: Some(threads), ..Default::default() }
    }

    #[test]
    fn expanded_rows_carry_their_origin_and_are_padded_together() {
        let source = "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}{% endif %}\
                      {{ m.content }} {% endfor %}";
        let encoder = encoder(source, TokenizerDefaults::default());
        let chat = |contents: &[&str]| Conversation {
            messages: contents.iter().enumerate().map(|(i, c)| message(["user", "assistant"][i % 2], c)).collect(),
        };
        let conversations = [chat(&["b", "a", "b", "a b"]), chat(&["b"]), chat(&["b", "bad"]), chat(&["b", "b"])];
        let tokens = TokenOptions { padding: PaddingStrategy::Longest, ..Default::default() };
        let masks = MaskPlan { source: MaskSource::Turns, ..Default::default() };
        let options =
            CallOptions { tokens, masks, expand_turns: true, on_error: ErrorPolicy::Skip, ..Default::default() };
        let batch = encoder.encode_batch(&conversations, &RenderInputs::default(), &options).unwrap();
        assert_eq!(batch.origins, [(0, 1), (0, 3), (3, 1)]);
        assert_eq!(batch.errors.iter().map(|e| e.conversation).collect::<Vec<_>>(), [Some(2)]);
        let ids: Vec<&[u32]> = batch.rows.iter().map(|row| &row.input_ids[..]).collect();
        assert_eq!(ids, [&[1, 0, 0, 0, 0][..], &[1, 0, 1, 0, 1], &[1, 1, 0, 0, 0]]);
        let masks: Vec<&[u8]> = batch.rows.iter().map(|row| &row.assistant_masks[..]).collect();
        assert_eq!(masks, [&[0, 1, 0, 0, 0][..], &[0, 0, 0, 1, 1], &[0, 1, 0, 0, 0]]);
        let collect = CallOptions { on_error: ErrorPolicy::Collect, ..options.clone() };
        assert!(encoder.encode_batch(&conversations, &RenderInputs::default(), &collect).is_err());
        let prompt = RenderInputs { add_generation_prompt: true, ..Default::default() };
        assert!(encoder.encode_batch(&conversations, &prompt, &options).is_err());
    }

    #[test]
    fn first_failing_index_is_reported() {
        let encoder = encoder(RAISES_ON_BAD, TokenizerDefaults::default());
        let conversations = conversations(&["ok", "bad", "ok", "bad"]);
        let err = encoder.render_batch(&conversations, &RenderInputs::default(), &CallOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "conversation 1: bad turn");
    }

    #[test]
    fn each_conversation_keeps_its_own_result() {
        let encoder = encoder(RAISES_ON_BAD, TokenizerDefaults::default());
        let conversations = conversations(&["a", "bad", "a b", "bad"]);
        let tokens = TokenOptions { padding: PaddingStrategy::Longest, ..Default::default() };
        let mut options = CallOptions { tokens, ..Default::default() };
        let each = encoder.encode_each(&conversations, &RenderInputs::default(), &options).unwrap();
        let failed: Vec<String> = each.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
        assert_eq!(failed, ["conversation 1: bad turn", "conversation 3: bad turn"]);
        // Padding is computed over the successes only: both reach the longest success.
        let lengths: Vec<usize> = each.iter().filter_map(|r| r.as_ref().ok().map(|e| e[0].1.input_ids.len())).collect();
        assert_eq!(lengths, [2, 2]);
        let raised = encoder.encode_batch(&conversations, &RenderInputs::default(), &options);
        assert_eq!(raised.unwrap_err().to_string(), "conversation 1: bad turn");
        options.on_error = ErrorPolicy::Skip;
        let skipped = encoder.encode_batch(&conversations, &RenderInputs::default(), &options).unwrap();
        assert_eq!(skipped.rows.len(), 2);
        assert_eq!(skipped.errors.iter().map(|e| e.conversation).collect::<Vec<_>>(), [Some(1), Some(3)]);
    }

    #[test]
    fn a_conversation_that_could_not_be_read_is_its_own_error() {
        let encoder = encoder("{{ messages[0].content }}", TokenizerDefaults::default());
        let unread = Error::input("a conversation must be a list of messages, got int").in_conversation(1);
        let items = vec![Ok(conversations(&["a"]).remove(0)), Err(unread.clone())];
        let options = CallOptions { on_error: ErrorPolicy::Skip, ..Default::default() };
        let batch = encoder.encode_batch(&items, &RenderInputs::default(), &options).unwrap();
        assert_eq!((batch.rows.len(), batch.errors), (1, vec![unread]));
    }

    #[test]
    fn model_max_length_is_the_fallback_length() {
        let limited = TokenizerDefaults { model_max_length: Some(1), ..Default::default() };
        let truncate = TokenOptions { truncation: true, ..Default::default() };
        let options = encoder("x", limited).encode_options(&truncate).unwrap();
        assert_eq!((options.max_length, options.truncation), (Some(1), true));
        // Without a model_max_length, truncation is off, as in transformers.
        let options = encoder("x", TokenizerDefaults::default()).encode_options(&truncate).unwrap();
        assert_eq!((options.max_length, options.truncation), (None, false));
        let to_max_length = TokenOptions { padding: PaddingStrategy::MaxLength, ..Default::default() };
        let err = encoder("x", TokenizerDefaults::default()).encode_options(&to_max_length).unwrap_err();
        assert_eq!(err.message, "padding='max_length' needs max_length");
    }

    #[test]
    fn sides_default_to_the_tokenizer_s() {
        let left = TokenizerDefaults { padding_side: Side::Left, ..Default::default() };
        let options = encoder("x", left).encode_options(&TokenOptions::default()).unwrap();
        assert_eq!((options.padding_side, options.truncation_side), (Side::Left, Side::Right));
        let right = TokenOptions { padding_side: Some(Side::Right), ..Default::default() };
        assert_eq!(encoder("x", left).encode_options(&right).unwrap().padding_side, Side::Right);
    }

    #[test]
    fn invalid_combinations_are_refused_before_any_work() {
        let collect = CallOptions { on_error: ErrorPolicy::Collect, layout: Layout::Arrays, ..Default::default() };
        assert!(collect.validate().unwrap_err().message.starts_with("on_error='collect' keeps a None row"));
        assert_eq!(threads(0).validate().unwrap_err().message, "num_threads must be at least 1");
        let generation = CallOptions {
            masks: MaskPlan { source: MaskSource::Generation, ..Default::default() },
            ..Default::default()
        };
        let err = encoder("x", TokenizerDefaults::default())
            .render_batch(&conversations(&["a"]), &RenderInputs::default(), &generation)
            .unwrap_err();
        assert!(err.message.starts_with("mask_source='generation' but the template has no"), "{}", err.message);
    }

    #[test]
    fn results_keep_input_order() {
        let encoder = encoder("{{ messages[0].content }}", TokenizerDefaults::default());
        let conversations: Vec<Conversation> =
            (0..200).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let rendered = encoder.render_batch(&conversations, &RenderInputs::default(), &CallOptions::default()).unwrap();
        assert!(rendered.iter().enumerate().all(|(i, r)| r.text == i.to_string()));
    }

    #[test]
    fn any_thread_count_gives_the_same_result() {
        let encoder = encoder("{{ messages[0].content }}", TokenizerDefaults::default());
        let conversations: Vec<Conversation> =
            (0..50).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let inputs = RenderInputs::default();
        let one = encoder.render_batch(&conversations, &inputs, &threads(1)).unwrap();
        let three = encoder.render_batch(&conversations, &inputs, &threads(3)).unwrap();
        assert_eq!(one, three);
        assert!(encoder.render_batch(&conversations, &inputs, &threads(0)).is_err());
    }

    #[test]
    fn deep_recursion_hits_the_limit_not_the_stack() {
        let encoder = encoder("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", TokenizerDefaults::default());
        let err = encoder
            .render_batch(&conversations(&["x"]), &RenderInputs::default(), &CallOptions::default())
            .unwrap_err();
        assert!(err.message.contains("recursion"), "{}", err.message);
    }
}
