//! Reads a loaded `tokenizers::Tokenizer`'s components from their serialized form, which is
//! canonical: every field is present with the value `tokenizers` actually uses, whatever the file
//! left to defaults or spelled in a legacy format. The engines that reproduce `tokenizers`'
//! offsets (`bpe/`, `pipeline/`) decide from these whether a tokenizer.json has a shape they take.

use serde_json::Value;
use tokenizers::Tokenizer;

/// The steps of the normalizer, Sequences expanded; empty when there is none. None when it does
/// not serialize.
pub(crate) fn normalizer_steps(tokenizer: &Tokenizer) -> Option<Vec<Value>> {
    let mut steps = Vec::new();
    if let Some(normalizer) = tokenizer.get_normalizer() {
        flatten(&serde_json::to_value(normalizer).ok()?, "normalizers", &mut steps)?;
    }
    Some(steps)
}

/// The steps of the pre-tokenizer, Sequences expanded; empty when there is none.
pub(crate) fn pre_tokenizer_steps(tokenizer: &Tokenizer) -> Option<Vec<Value>> {
    let mut steps = Vec::new();
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        flatten(&serde_json::to_value(pre_tokenizer).ok()?, "pretokenizers", &mut steps)?;
    }
    Some(steps)
}

/// For each ByteLevel post-processor with `trim_offsets`, in order, its `add_prefix_space`.
/// Supported: none, ByteLevel, TemplateProcessing (which adds nothing with add_special_tokens
/// false, as long as its single template holds sequence A once), and Sequences of those.
pub(crate) fn offset_trims(tokenizer: &Tokenizer) -> Option<Vec<bool>> {
    let Some(processor) = tokenizer.get_post_processor() else { return Some(Vec::new()) };
    let mut steps = Vec::new();
    flatten(&serde_json::to_value(processor).ok()?, "processors", &mut steps)?;
    let mut trims = Vec::new();
    for step in &steps {
        match type_of(step)? {
            "ByteLevel" => match (&step["trim_offsets"], &step["add_prefix_space"]) {
                (Value::Bool(false), _) => {}
                (Value::Bool(true), Value::Bool(add_prefix_space)) => trims.push(*add_prefix_space),
                _ => return None,
            },
            "TemplateProcessing" => {
                let pieces = step["single"].as_array()?;
                let sequences: Vec<&Value> = pieces.iter().filter_map(|piece| piece.get("Sequence")).collect();
                if pieces.iter().any(|p| p.get("Sequence").is_none() && p.get("SpecialToken").is_none())
                    || sequences.len() != 1
                    || sequences[0]["id"] != "A"
                {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(trims)
}

pub(crate) fn type_of(value: &Value) -> Option<&str> {
    value.get("type")?.as_str()
}

/// Appends the steps of a component, expanding nested `Sequence`s (whose list is under `key`).
fn flatten(value: &Value, key: &str, out: &mut Vec<Value>) -> Option<()> {
    if type_of(value)? == "Sequence" {
        for step in value.get(key)?.as_array()? {
            flatten(step, key, out)?;
        }
    } else {
        out.push(value.clone());
    }
    Some(())
}
