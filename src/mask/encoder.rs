//! The parallel pipeline: one task per conversation renders, tokenizes and aligns, on a pool this
//! module owns. Results keep the input order; the first failing conversation is reported.

use minijinja::value::Value;

use crate::error::Result;
use crate::jinja::{ChatTemplate, Rendered};
use crate::mask::conversation::{RenderInputs, ToConversation};
use crate::mask::encode::{encode_rendered, pad_batch, EncodeOptions, Encoded};
use crate::mask::turns::MaskPlan;
use crate::runtime::pool::{run_each, run_indexed, run_produced, Threads};
use crate::tokenizer::Tokenizer;

/// Renders every conversation.
pub fn render_batch(
    template: &ChatTemplate,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Rendered>> {
    inputs.validate()?;
    run_indexed(conversations, threads, |conversation| {
        plan.render(template, &conversation.to_conversation(), inputs, special_tokens)
    })
}

/// Renders, tokenizes, truncates, masks and pads every conversation; the first failing one fails
/// the batch.
#[allow(clippy::too_many_arguments)]
pub fn encode_batch(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &EncodeOptions,
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Encoded>> {
    // The error of the lowest failing index wins, so the report does not depend on scheduling.
    encode_each(template, tokenizer, conversations, inputs, special_tokens, options, plan, threads)?
        .into_iter()
        .collect()
}

/// `encode_batch` that keeps going past failures: one result per conversation, each error
/// naming its index, and padding computed over the conversations that succeeded. Errors in the
/// options still fail the whole call.
#[allow(clippy::too_many_arguments)]
pub fn encode_each(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    conversations: &[impl ToConversation],
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
    options: &EncodeOptions,
    plan: &MaskPlan,
    threads: Threads,
) -> Result<Vec<Result<Encoded>>> {
    let context = EncodeContext { template, tokenizer, inputs, special_tokens, options };
    context.validate()?;
    let results = run_each(conversations, threads, |c| context.encode(plan, c))?;
    pad_good(results, options)
}

/// What encoding a conversation takes besides the conversation and its mask plan.
pub struct EncodeContext<'a> {
    pub template: &'a ChatTemplate,
    pub tokenizer: &'a Tokenizer,
    pub inputs: &'a RenderInputs,
    pub special_tokens: &'a [(String, Value)],
    pub options: &'a EncodeOptions,
}

impl EncodeContext<'_> {
    fn validate(&self) -> Result<()> {
        self.inputs.validate()?;
        self.options.validate()
    }

    fn encode(&self, plan: &MaskPlan, conversation: &impl ToConversation) -> Result<Encoded> {
        let rendered = plan.render(self.template, &conversation.to_conversation(), self.inputs, self.special_tokens)?;
        encode_rendered(&rendered, self.tokenizer, self.options)
    }
}

/// `encode_batch` of conversations that `produce` makes one by one on the calling thread, in
/// order, while the pool already encodes those it made. Converting Python objects holds the
/// interpreter, so it cannot run in parallel; overlapping it with the parallel work keeps it from
/// being a serial phase before all of it. An error of `produce` is the call's error, as if every conversation had been
/// converted first; otherwise the error of the lowest failing index wins. `count` is how many
/// conversations `produce` makes.
pub fn encode_produced<C: ToConversation + Send + Sync>(
    context: &EncodeContext<'_>,
    plan: &MaskPlan,
    threads: Threads,
    count: usize,
    produce: impl FnOnce(&mut dyn FnMut(C)) -> Result<()>,
) -> Result<Vec<Encoded>> {
    context.validate()?;
    let results = run_produced(threads, count, produce, |c: &C| context.encode(plan, c))?;
    pad_good(results, context.options)?.into_iter().collect()
}

/// Pads the results that succeeded among themselves.
fn pad_good(mut results: Vec<Result<Encoded>>, options: &EncodeOptions) -> Result<Vec<Result<Encoded>>> {
    let mut good: Vec<Encoded> = results.iter_mut().filter_map(|r| r.as_mut().ok().map(std::mem::take)).collect();
    pad_batch(&mut good, options)?;
    for (slot, encoded) in results.iter_mut().filter_map(|r| r.as_mut().ok()).zip(good) {
        *slot = encoded;
    }
    Ok(results)
}

/// Tokenizes already-rendered texts (no assistant spans), with the same truncation and padding.
pub fn encode_texts(
    tokenizer: &Tokenizer,
    texts: &[String],
    options: &EncodeOptions,
    threads: Threads,
) -> Result<Vec<Encoded>> {
    options.validate()?;
    let mut batch = run_indexed(texts, threads, |text| {
        encode_rendered(&Rendered { text: text.clone(), spans: Vec::new() }, tokenizer, options)
    })?;
    pad_batch(&mut batch, options)?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::Clock;
    use crate::mask::conversation::Conversation;

    /// A word-level tokenizer: "a"=0, "b"=1, "[UNK]"=2.
    const WORD_LEVEL: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"a":0,"b":1,"[UNK]":2},"unk_token":"[UNK]"}}"#;

    fn message(role: &str, content: &str) -> Value {
        Value::from_pairs([("role", Value::from(role)), ("content", Value::from(content))])
    }

    #[test]
    fn first_failing_index_is_reported() {
        let template = ChatTemplate::compile(
            "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}{% endif %}{{ m.content }}{% endfor %}",
            Clock::Local,
        )
        .unwrap();
        let conversations: Vec<Conversation> =
            ["ok", "bad", "ok", "bad"].iter().map(|c| Conversation { messages: vec![message("user", c)] }).collect();
        let err = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None)
            .unwrap_err();
        assert_eq!(err.to_string(), "conversation 1: bad turn");
    }

    #[test]
    fn each_conversation_keeps_its_own_result() {
        let template = ChatTemplate::compile(
            "{% for m in messages %}{% if m.content == 'bad' %}{{ raise_exception('bad turn') }}{% endif %}{{ m.content }}{% endfor %}",
            Clock::Local,
        )
        .unwrap();
        let tokenizer = Tokenizer::from_json(WORD_LEVEL, crate::tokenizer::Backend::Auto).unwrap();
        let conversations: Vec<Conversation> =
            ["a", "bad", "a b", "bad"].iter().map(|c| Conversation { messages: vec![message("user", c)] }).collect();
        let options = EncodeOptions {
            padding: crate::mask::encode::PaddingStrategy::Longest,
            pad_id: Some(0),
            ..Default::default()
        };
        let each = encode_each(
            &template,
            &tokenizer,
            &conversations,
            &RenderInputs::default(),
            &[],
            &options,
            &MaskPlan::default(),
            None,
        )
        .unwrap();
        let failed: Vec<String> = each.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
        assert_eq!(failed, ["conversation 1: bad turn", "conversation 3: bad turn"]);
        // Padding is computed over the successes only: both reach the longest success.
        let lengths: Vec<usize> = each.iter().filter_map(|r| r.as_ref().ok().map(|e| e.input_ids.len())).collect();
        assert_eq!(lengths.len(), 2);
        assert!(lengths.iter().all(|&n| n == lengths[0]));
        let raised = encode_batch(
            &template,
            &tokenizer,
            &conversations,
            &RenderInputs::default(),
            &[],
            &options,
            &MaskPlan::default(),
            None,
        );
        assert_eq!(raised.unwrap_err().to_string(), "conversation 1: bad turn");
    }

    #[test]
    fn results_keep_input_order() {
        let template = ChatTemplate::compile("{{ messages[0].content }}", Clock::Local).unwrap();
        let conversations: Vec<Conversation> =
            (0..200).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let rendered =
            render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None).unwrap();
        assert!(rendered.iter().enumerate().all(|(i, r)| r.text == i.to_string()));
    }

    #[test]
    fn any_thread_count_gives_the_same_result() {
        let template = ChatTemplate::compile("{{ messages[0].content }}", Clock::Local).unwrap();
        let conversations: Vec<Conversation> =
            (0..50).map(|i| Conversation { messages: vec![message("user", &i.to_string())] }).collect();
        let one = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(1))
            .unwrap();
        let three =
            render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(3))
                .unwrap();
        assert_eq!(one, three);
        assert!(render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), Some(0))
            .is_err());
    }

    #[test]
    fn deep_recursion_hits_the_limit_not_the_stack() {
        let template =
            ChatTemplate::compile("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", Clock::Local).unwrap();
        let conversations = vec![Conversation { messages: vec![message("user", "x")] }];
        let err = render_batch(&template, &conversations, &RenderInputs::default(), &[], &MaskPlan::default(), None)
            .unwrap_err();
        assert!(err.message.contains("recursion"), "{}", err.message);
    }
}
