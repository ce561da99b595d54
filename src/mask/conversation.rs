//! What a template sees: the messages prepared as transformers prepares them, and the variables
//! passed next to them (`tools`, `documents`, `add_generation_prompt`, special tokens, kwargs).

use std::borrow::Cow;

use minijinja::value::{Value, ValueKind};

use crate::error::{Error, Result};
use crate::jinja::dict_pairs;

/// One conversation: its messages, each already converted to a template value.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub messages: Vec<Value>,
}

/// What a batch takes for each conversation: template values already, or data that becomes them
/// inside the conversation's own task (so that conversion runs in parallel, not before).
pub trait ToConversation: Sync {
    fn to_conversation(&self) -> Result<Cow<'_, Conversation>>;
}

impl ToConversation for Conversation {
    fn to_conversation(&self) -> Result<Cow<'_, Conversation>> {
        Ok(Cow::Borrowed(self))
    }
}

/// A conversation that could not be read: its error is that conversation's result, so a batch
/// that keeps going past failures reports it at its index like any other.
impl<C: ToConversation> ToConversation for Result<C> {
    fn to_conversation(&self) -> Result<Cow<'_, Conversation>> {
        self.as_ref().map_err(Clone::clone)?.to_conversation()
    }
}

/// The variables shared by every conversation of a call.
#[derive(Debug, Clone)]
pub struct RenderInputs {
    pub add_generation_prompt: bool,
    /// `none` when not given: transformers passes `tools=None`, so `tools is defined` holds.
    pub tools: Value,
    pub documents: Value,
    /// Extra template variables; they override the tokenizer's special tokens of the same name.
    pub template_kwargs: Vec<(String, Value)>,
}

impl Default for RenderInputs {
    fn default() -> Self {
        RenderInputs {
            add_generation_prompt: false,
            tools: Value::from(()),
            documents: Value::from(()),
            template_kwargs: Vec::new(),
        }
    }
}

/// Names transformers passes itself; a template kwarg with one of them is a Python TypeError there.
const RESERVED_NAMES: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// Names a message's reasoning is given under; the first is the one most templates read.
const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

impl RenderInputs {
    pub fn validate(&self) -> Result<()> {
        match self.template_kwargs.iter().find(|(name, _)| RESERVED_NAMES.contains(&name.as_str())) {
            Some((name, _)) => {
                Err(Error::input(format!("template keyword {name:?} is reserved; pass it as its own argument")))
            }
            None => Ok(()),
        }
    }
}

/// The full set of template variables for one conversation. An empty conversation is rendered
/// (with `messages` empty) as transformers renders one inside a batch.
pub fn build_context(
    conversation: &Conversation,
    inputs: &RenderInputs,
    special_tokens: &[(String, Value)],
) -> Result<Value> {
    Ok(context_of_prepared(&prepare_messages(conversation)?, inputs, inputs.add_generation_prompt, special_tokens))
}

/// Every message of `conversation` prepared as transformers prepares it; an error names the
/// message that is not a dict.
pub fn prepare_messages(conversation: &Conversation) -> Result<Vec<Value>> {
    conversation
        .messages
        .iter()
        .enumerate()
        .map(|(index, message)| prepare_message(message).map_err(|msg| Error::input(msg).in_message(index)))
        .collect()
}

/// The template variables for messages already prepared ([`prepare_messages`]), with
/// `add_generation_prompt` in place of the inputs' own: renders of a conversation's prefixes
/// prepare its messages once.
pub fn context_of_prepared(
    messages: &[Value],
    inputs: &RenderInputs,
    add_generation_prompt: bool,
    special_tokens: &[(String, Value)],
) -> Value {
    let mut variables: Vec<(Value, Value)> =
        Vec::with_capacity(special_tokens.len() + inputs.template_kwargs.len() + 4);
    for (name, value) in special_tokens.iter().chain(&inputs.template_kwargs) {
        variables.push((Value::from(name.as_str()), value.clone()));
    }
    variables.push((Value::from("messages"), Value::from(messages.to_vec())));
    variables.push((Value::from("tools"), inputs.tools.clone()));
    variables.push((Value::from("documents"), inputs.documents.clone()));
    variables.push((Value::from("add_generation_prompt"), Value::from(add_generation_prompt)));
    // Later pairs win, so kwargs override special tokens as in `{**special_tokens_map, **kwargs}`.
    Value::from_pairs(variables)
}

/// transformers' preparation of one message: keys whose value is None are dropped, then the
/// reasoning is aliased as `{"thinking": r, **message, "reasoning_content": r}`.
fn prepare_message(message: &Value) -> std::result::Result<Value, String> {
    if message.kind() != ValueKind::Map {
        return Err(format!("must be a dict, got {}", message.kind()));
    }
    let mut entries: Vec<(Value, Value)> = Vec::new();
    if let Some(pairs) = dict_pairs(message) {
        let unchanged = |(key, value): (&Value, &Value)| {
            !value.is_none() && !key.as_str().is_some_and(|name| REASONING_FIELDS.contains(&name))
        };
        // Most messages have no None value and no reasoning: they are used as they are.
        if pairs.iter().all(unchanged) {
            return Ok(message.clone());
        }
        entries.extend(pairs.iter().filter(|(_, value)| !value.is_none()).map(|(k, v)| (k.clone(), v.clone())));
    } else {
        for key in message.try_iter().map_err(|err| err.to_string())? {
            let value = message.get_item(&key).map_err(|err| err.to_string())?;
            if !value.is_none() {
                entries.push((key, value));
            }
        }
    }
    let field = |name: &str| entries.iter().find(|(key, _)| key.as_str() == Some(name)).map(|(_, v)| v.clone());
    let reasoning = REASONING_FIELDS.iter().find_map(|name| field(name));
    let Some(reasoning) = reasoning else {
        return Ok(Value::from_pairs(entries));
    };
    let mut aliased = Vec::with_capacity(entries.len() + 2);
    if field("thinking").is_none() {
        aliased.push((Value::from("thinking"), reasoning.clone()));
    }
    aliased.extend(entries);
    match aliased.iter_mut().find(|(key, _)| key.as_str() == Some("reasoning_content")) {
        Some(entry) => entry.1 = reasoning,
        None => aliased.push((Value::from("reasoning_content"), reasoning)),
    }
    Ok(Value::from_pairs(aliased))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        value.try_iter().unwrap().map(|k| k.to_string()).collect()
    }

    fn message(pairs: &[(&str, Value)]) -> Value {
        Value::from_pairs(pairs.iter().map(|(k, v)| (Value::from(*k), v.clone())))
    }

    #[test]
    fn none_values_are_dropped() {
        let m = message(&[("role", Value::from("assistant")), ("content", Value::from(())), ("x", Value::from(1))]);
        assert_eq!(keys(&prepare_message(&m).unwrap()), ["role", "x"]);
    }

    #[test]
    fn reasoning_is_aliased_in_transformers_order() {
        let m = message(&[("role", Value::from("assistant")), ("reasoning", Value::from("r"))]);
        let out = prepare_message(&m).unwrap();
        assert_eq!(keys(&out), ["thinking", "role", "reasoning", "reasoning_content"]);
        assert_eq!(out.get_attr("thinking").unwrap().as_str(), Some("r"));
    }

    #[test]
    fn existing_thinking_keeps_its_value_and_place() {
        let m = message(&[("thinking", Value::from("t")), ("reasoning_content", Value::from("c"))]);
        let out = prepare_message(&m).unwrap();
        assert_eq!(keys(&out), ["thinking", "reasoning_content"]);
        assert_eq!(out.get_attr("thinking").unwrap().as_str(), Some("t"));
        assert_eq!(out.get_attr("reasoning_content").unwrap().as_str(), Some("c"));
    }

    #[test]
    fn non_dict_message_is_an_input_error() {
        let conversation = Conversation { messages: vec![message(&[]), Value::from(3)] };
        let err = build_context(&conversation, &RenderInputs::default(), &[]).unwrap_err();
        assert_eq!(err.message, "message 1: must be a dict, got number");
    }

    #[test]
    fn kwargs_override_special_tokens() {
        let conversation = Conversation { messages: vec![message(&[])] };
        let inputs =
            RenderInputs { template_kwargs: vec![("bos_token".into(), Value::from("K"))], ..Default::default() };
        let ctx = build_context(&conversation, &inputs, &[("bos_token".into(), Value::from("S"))]).unwrap();
        assert_eq!(ctx.get_attr("bos_token").unwrap().as_str(), Some("K"));
        assert!(ctx.get_attr("tools").unwrap().is_none());
    }
}
