//! Where each message's content lies in a render, found without relying on prefixes: the
//! conversation is rendered once more with every content replaced by a unique marker, and the
//! real render must be exactly that marked render with the contents put back. Templates that
//! place earlier parts differently once later messages follow (a system prompt or a tool list
//! beside the last user message) keep each content's own text, so their turns can be found by
//! the contents around them and checked against them.

use minijinja::value::{Value, ValueKind};

use crate::error::{ErrorKind, Result};
use crate::jinja::ChatTemplate;
use crate::mask::conversation::{context_of_prepared, prepare_messages, Conversation, RenderInputs};

/// Opens and closes a marker; private-use characters, which no template writes or trims.
const OPEN: char = '\u{F0000}';
const CLOSE: char = '\u{F0001}';

/// One rendered content: the message it belongs to and its byte range in the real render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub message: usize,
    pub start_byte: usize,
    pub end_byte: usize,
}

/// Every rendered content of a conversation, in text order.
#[derive(Debug, Clone, Default)]
pub struct ContentMap {
    pub placed: Vec<Placed>,
    /// How many messages the conversation has.
    pub messages: usize,
}

impl ContentMap {
    /// Maps the contents of `conversation` onto `full`, its render (with `add_generation_prompt`
    /// in place of the inputs' own). `Ok(None)` when the marked
    /// render fails or does not give `full` back (the template reads the contents, not only
    /// prints them), so nothing can be verified.
    pub fn build(
        template: &ChatTemplate,
        conversation: &Conversation,
        inputs: &RenderInputs,
        add_generation_prompt: bool,
        special_tokens: &[(String, Value)],
        full: &str,
    ) -> Result<Option<ContentMap>> {
        let mut contents = Vec::new();
        let messages = conversation
            .messages
            .iter()
            .enumerate()
            .map(|(index, message)| marked(index, message, &mut contents))
            .collect();
        if contents.iter().any(|(_, text): &(usize, String)| text.contains([OPEN, CLOSE])) {
            return Ok(None);
        }
        let marked_conversation = Conversation { messages };
        // A template that refuses the markers (it checks what a content holds) reads the
        // contents: nothing can be verified, which is not an error of the conversation itself.
        let context = context_of_prepared(
            &prepare_messages(&marked_conversation)?,
            inputs,
            add_generation_prompt,
            special_tokens,
        );
        let rendered = match template.render(context) {
            Ok(rendered) => rendered,
            Err(err) if err.kind == ErrorKind::Template => return Ok(None),
            Err(err) => return Err(err),
        };
        let messages = conversation.messages.len();
        Ok(place(&rendered.text, full, &contents).map(|placed| ContentMap { placed, messages }))
    }

    fn of(&self, message: usize) -> impl Iterator<Item = &Placed> {
        self.placed.iter().filter(move |placed| placed.message == message)
    }

    /// Where the rendered contents of the messages before `index` end (0 when none is rendered).
    pub fn end_before(&self, index: usize) -> usize {
        self.placed.iter().filter(|placed| placed.message < index).map(|placed| placed.end_byte).max().unwrap_or(0)
    }

    /// Where message `index`'s first rendered content starts, if it has one.
    pub fn start_of(&self, index: usize) -> Option<usize> {
        self.of(index).map(|placed| placed.start_byte).min()
    }

    /// The byte range of `turn` (the text the template renders for message `index` when it is
    /// the last message) in the full render: the one place where that text stands around the message's
    /// rendered content, or, for a message whose content is not rendered (a tool call alone),
    /// between the contents of the messages next to it. Verified: the range holds every
    /// rendered content of the message and no content of another.
    pub fn locate(&self, full: &str, index: usize, turn: &str) -> std::result::Result<(usize, usize), String> {
        let own: Vec<&Placed> = self.of(index).collect();
        let mut starts: Vec<usize> = match own.first() {
            Some(first) => {
                let content = &full[first.start_byte..first.end_byte];
                turn.match_indices(content)
                    .filter_map(|(offset, _)| first.start_byte.checked_sub(offset))
                    .filter(|&start| full[start..].starts_with(turn))
                    .collect()
            }
            None => {
                let low = (0..index).rev().find_map(|m| self.of(m).map(|p| p.end_byte).max()).unwrap_or(0);
                let high = (index + 1..self.messages).find_map(|m| self.of(m).map(|p| p.start_byte).min());
                let high = high.unwrap_or(full.len());
                let window = full.get(low..high).unwrap_or_default();
                window.match_indices(turn).map(|(offset, _)| low + offset).collect()
            }
        };
        starts.dedup();
        let [start] = starts[..] else {
            return Err(match starts.len() {
                0 => "the template renders the earlier messages differently once later ones follow, and this \
                      turn's text is not found in the full render"
                    .into(),
                _ => "the template renders the earlier messages differently once later ones follow, and this \
                      turn's text is found in more than one place"
                    .into(),
            });
        };
        let end = start + turn.len();
        let holds = |p: &Placed| start <= p.start_byte && p.end_byte <= end;
        let overlaps = |p: &Placed| p.start_byte < end && start < p.end_byte && p.start_byte < p.end_byte;
        if !own.iter().all(|p| holds(p)) {
            return Err("the turn located in the full render does not hold all of this message's content".into());
        }
        if let Some(other) = self.placed.iter().find(|p| p.message != index && overlaps(p)) {
            return Err(format!("the turn located in the full render would hold content of message {}", other.message));
        }
        Ok((start, end))
    }
}

/// `message` (the `index`th) with its content replaced by markers: a string content, or the
/// text of each part of a list content. Contents that are empty once trimmed stay: a template
/// may treat them as absent, which a marker would change. Each replaced text goes to `contents`
/// with the message's index; a marker names its entry there.
fn marked(index: usize, message: &Value, contents: &mut Vec<(usize, String)>) -> Value {
    if message.kind() != ValueKind::Map {
        return message.clone();
    }
    with_entry(message, "content", |content| marked_content(index, content, contents))
        .unwrap_or_else(|| message.clone())
}

fn marked_content(index: usize, content: &Value, contents: &mut Vec<(usize, String)>) -> Option<Value> {
    if let Some(text) = content.as_str() {
        return marker(index, text, contents);
    }
    if content.kind() != ValueKind::Seq {
        return None;
    }
    let mut changed = false;
    let parts: Vec<Value> = content
        .try_iter()
        .ok()?
        .map(|part| {
            let text_marker = |text: &Value| text.as_str().and_then(|text| marker(index, text, contents));
            let new = (part.kind() == ValueKind::Map).then(|| with_entry(&part, "text", text_marker)).flatten();
            changed |= new.is_some();
            new.unwrap_or(part)
        })
        .collect();
    changed.then(|| Value::from(parts))
}

fn marker(index: usize, text: &str, contents: &mut Vec<(usize, String)>) -> Option<Value> {
    if text.trim().is_empty() {
        return None;
    }
    contents.push((index, text.to_string()));
    Some(Value::from(format!("{OPEN}{}{CLOSE}", contents.len() - 1)))
}

/// `map` with the value under `key` replaced by what `replace` makes of it; None when the key is
/// absent or `replace` makes nothing.
fn with_entry(map: &Value, key: &str, replace: impl FnOnce(&Value) -> Option<Value>) -> Option<Value> {
    let names: Vec<Value> = map.try_iter().ok()?.collect();
    let name = names.iter().find(|name| name.as_str() == Some(key))?;
    let new = replace(&map.get_item(name).ok()?)?;
    let entries = names.into_iter().map(|name| {
        let value = if name.as_str() == Some(key) { new.clone() } else { map.get_item(&name).unwrap_or_default() };
        (name, value)
    });
    Some(Value::from_pairs(entries.collect::<Vec<(Value, Value)>>()))
}

/// Where each marker's content lies in `full`, if `full` is `marked` with the contents put back.
/// A template may trim what it prints, so a content is taken as it stands or trimmed.
fn place(marked: &str, full: &str, contents: &[(usize, String)]) -> Option<Vec<Placed>> {
    let mut placed = Vec::new();
    let (mut rest, mut at) = (marked, 0);
    loop {
        let Some(open) = rest.find(OPEN) else {
            return (full.get(at..)? == rest).then_some(placed);
        };
        full.get(at..)?.starts_with(&rest[..open]).then_some(())?;
        at += open;
        let close = open + rest[open..].find(CLOSE)?;
        let (message, text) = contents.get(rest[open + OPEN.len_utf8()..close].parse::<usize>().ok()?)?;
        rest = &rest[close + CLOSE.len_utf8()..];
        let next_literal = &rest[..rest.find(OPEN).unwrap_or(rest.len())];
        let forms = [text.as_str(), text.trim(), text.trim_end(), text.trim_start()];
        let form = forms
            .into_iter()
            .find(|form| full[at..].starts_with(form) && full[at + form.len()..].starts_with(next_literal))?;
        placed.push(Placed { message: *message, start_byte: at, end_byte: at + form.len() });
        at += form.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(id: usize) -> String {
        format!("{OPEN}{id}{CLOSE}")
    }

    #[test]
    fn contents_are_placed_as_given_or_trimmed() {
        let contents = vec![(0, "hi".to_string()), (1, " spaced \n".to_string())];
        let marked = format!("<u>{}</u><a>{}</a>", marker(0), marker(1));
        let placed = place(&marked, "<u>hi</u><a>spaced</a>", &contents).unwrap();
        assert_eq!(placed[0], Placed { message: 0, start_byte: 3, end_byte: 5 });
        assert_eq!(placed[1], Placed { message: 1, start_byte: 12, end_byte: 18 });
    }

    #[test]
    fn a_render_that_is_not_the_marked_one_with_contents_back_is_not_placed() {
        let contents = vec![(0, "hi".to_string())];
        let marked = format!("<u>{}</u>", marker(0));
        assert!(place(&marked, "<u>HI</u>", &contents).is_none());
        assert!(place(&marked, "<u>hi</u>!", &contents).is_none());
    }

    #[test]
    fn a_turn_is_located_around_its_own_content_and_must_hold_no_other() {
        let full = "[u]q[/u][a]x[/a][u]x[/u]";
        let map = ContentMap {
            placed: vec![
                Placed { message: 0, start_byte: 3, end_byte: 4 },
                Placed { message: 1, start_byte: 11, end_byte: 12 },
                Placed { message: 2, start_byte: 19, end_byte: 20 },
            ],
            messages: 3,
        };
        assert_eq!(map.locate(full, 1, "x[/a]"), Ok((11, 16)));
        // A turn text that would reach into the next message's content is refused.
        assert!(map.locate(full, 1, "x[/a][u]x").unwrap_err().contains("message 2"));
    }
}
