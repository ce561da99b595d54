//! One training row per trained turn (`expand_turns`): each trained turn becomes its own row, the
//! conversation up to and including that turn, rendered as the template renders it when that
//! turn is the last message (what the model sees at inference: a template that drops past
//! reasoning drops it from the earlier turns of the row, never from the trained one), with only
//! that turn trained.

use minijinja::value::Value;

use crate::error::{Error, Result};
use crate::jinja::{ChatTemplate, Rendered};
use crate::mask::conversation::{build_context, Conversation, RenderInputs};
use crate::mask::turns::{is_trained, render_selected_turns, MaskPlan};

/// A row of an expanded conversation: the message index of its trained turn, and its render.
pub type TurnRow = (usize, Rendered);

/// The rows of `conversation`'s trained turns (per `train_roles` / `train_key`, only the last
/// with `last_turn_only`), in message order; none when no turn is trained.
pub fn expand_turns(
    plan: &MaskPlan,
    template: &ChatTemplate,
    conversation: &Conversation,
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
) -> Result<Vec<TurnRow>> {
    let mut trained: Vec<usize> = (0..conversation.messages.len())
        .filter(|&index| is_trained(&conversation.messages[index], &plan.turns))
        .collect();
    if plan.turns.last_turn_only {
        trained.drain(..trained.len().saturating_sub(1));
    }
    let row = |index: usize| -> Result<TurnRow> {
        let prefix = Conversation { messages: conversation.messages[..=index].to_vec() };
        Ok((index, last_turn(plan, template, &prefix, inputs, special_tokens)?))
    };
    trained.into_iter().map(row).collect()
}

/// `prefix` rendered with the spans of its last message only.
///
/// Inferred turns: only the last message's turn is located (the earlier ones are not trained, so
/// a template that renders them differently once a later message follows does not matter).
///
/// Generation blocks: a block belongs to the last turn when it comes after every block of the
/// render of the messages before it. The rule counts blocks rather than comparing text, so it
/// holds for templates that render earlier turns differently once a later message follows (past
/// reasoning dropped, say), as long as they give each earlier turn the same number of blocks.
/// A last turn with no block is an error naming it, not a row with nothing trained.
fn last_turn(
    plan: &MaskPlan,
    template: &ChatTemplate,
    prefix: &Conversation,
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
) -> Result<Rendered> {
    let last = prefix.messages.len() - 1;
    if plan.infers_turns(template) {
        return render_selected_turns(template, prefix, inputs, special_tokens, &plan.turns, |index| index == last);
    }
    let mut rendered = template.render(build_context(prefix, inputs, special_tokens)?)?;
    let earlier = if last == 0 {
        0
    } else {
        let before = Conversation { messages: prefix.messages[..last].to_vec() };
        template.render(build_context(&before, inputs, special_tokens)?)?.spans.len()
    };
    rendered.spans.drain(..earlier.min(rendered.spans.len()));
    if rendered.spans.is_empty() {
        return Err(
            Error::input("expand_turns: the template marks no {% generation %} block in this turn").in_message(last)
        );
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jinja::Clock;
    use crate::mask::turns::MaskSource;

    const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                          {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    /// Past reasoning dropped: only the last assistant message shows its `reasoning`.
    const DROPS_REASONING: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n\
                                   {% if m.role == 'assistant' %}{% generation %}\
                                   {% if loop.last %}<think>{{ m.reasoning }}</think>{% endif %}\
                                   {{ m.content }}<|im_end|>{% endgeneration %}\
                                   {% else %}{{ m.content }}<|im_end|>{% endif %}\n{% endfor %}";

    fn message(role: &str, content: &str) -> Value {
        Value::from_pairs([
            ("role", Value::from(role)),
            ("content", Value::from(content)),
            ("reasoning", Value::from("r")),
        ])
    }

    fn chat() -> Conversation {
        let turns = [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")];
        Conversation { messages: turns.iter().map(|(role, content)| message(role, content)).collect() }
    }

    fn rows(source: &str, plan: &MaskPlan) -> Vec<(usize, String, Vec<String>)> {
        let template = ChatTemplate::compile(source, Clock::Local).unwrap();
        let rows = expand_turns(plan, &template, &chat(), &RenderInputs::default(), &[]).unwrap();
        let spanned = |r: &Rendered| r.spans.iter().map(|s| r.text[s.start_byte..s.end_byte].to_string()).collect();
        rows.into_iter().map(|(index, r)| (index, r.text.clone(), spanned(&r))).collect()
    }

    #[test]
    fn inferred_turns_train_only_the_last_message_of_each_prefix() {
        let got = rows(CHATML, &MaskPlan { source: MaskSource::Turns, ..Default::default() });
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                1,
                "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n".into(),
                vec!["b<|im_end|>\n".to_string()]
            )
        );
        assert_eq!((got[1].0, got[1].2.clone()), (3, vec!["d<|im_end|>\n".to_string()]));
    }

    #[test]
    fn generation_blocks_keep_those_of_the_last_turn() {
        let got = rows(DROPS_REASONING, &MaskPlan { source: MaskSource::Generation, ..Default::default() });
        assert_eq!(got[0].2, vec!["<think>r</think>b<|im_end|>".to_string()]);
        assert_eq!(got[1].2, vec!["<think>r</think>d<|im_end|>".to_string()]);
        assert!(got[1].1.contains("assistant\nb<|im_end|>"), "past reasoning dropped: {}", got[1].1);
    }

    #[test]
    fn last_turn_only_and_untrained_roles() {
        let mut plan = MaskPlan { source: MaskSource::Turns, ..Default::default() };
        plan.turns.last_turn_only = true;
        assert_eq!(rows(CHATML, &plan).iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
        plan.turns.roles = vec!["tool".into()];
        assert!(rows(CHATML, &plan).is_empty());
    }
}
