//! tokenizers 1.0's canonical form of a tokenizer.json, without its vocabulary and merges taking
//! the trip through `serde_json`.
//!
//! The upgrade pass (`tokenizers1::canonicalize_str`) parses the whole file into a
//! `serde_json::Value` and pretty-prints it back: about a third of tokenizers 1.0's load of a 150k
//! vocabulary. It never changes a BPE vocabulary, nor merges already spelled as `[left, right]`
//! pairs (it rewrites only `"left right"` strings). So the file is upgraded with the two left
//! empty, and they are put back as written.

use std::ops::Range;

/// `json` upgraded as `canonicalize_str` upgrades it, when its model has a vocabulary object and
/// merges spelled as pairs (else None: the caller upgrades the whole file). A merges array that
/// holds a string after a first pair is not caught here; tokenizers 1.0's reader refuses it.
pub(super) fn canonicalize(json: &str) -> Option<String> {
    let (vocab, merges) = model_members(json)?;
    if json.as_bytes()[vocab.start] != b'{' || !holds_pairs(json, &merges) {
        return None;
    }
    let skeleton = splice(json, &vocab, "{}", &merges, "[]");
    let canonical = tokenizers1::canonicalize_str(&skeleton).ok()?;
    let (empty_vocab, empty_merges) = model_members(&canonical)?;
    Some(splice(&canonical, &empty_vocab, &json[vocab], &empty_merges, &json[merges]))
}

/// `text` with the ranges `a` and `b` (apart) replaced by `with_a` and `with_b`.
fn splice(text: &str, a: &Range<usize>, with_a: &str, b: &Range<usize>, with_b: &str) -> String {
    let (first, with_first, second, with_second) =
        if a.start < b.start { (a, with_a, b, with_b) } else { (b, with_b, a, with_a) };
    let parts = [&text[..first.start], with_first, &text[first.end..second.start], with_second, &text[second.end..]];
    parts.concat()
}

/// The ranges of `model.vocab` and `model.merges` in the tokenizer.json `json`.
fn model_members(json: &str) -> Option<(Range<usize>, Range<usize>)> {
    let bytes = json.as_bytes();
    let root = skip_whitespace(bytes, 0);
    let [model] = members(bytes, root, ["model"])?;
    let [vocab, merges] = members(bytes, model?.start, ["vocab", "merges"])?;
    Some((vocab?, merges?))
}

/// Whether the merges array in `range` is empty or starts with a pair.
fn holds_pairs(json: &str, range: &Range<usize>) -> bool {
    let bytes = json.as_bytes();
    bytes[range.start] == b'[' && matches!(bytes.get(skip_whitespace(bytes, range.start + 1)), Some(b'[' | b']'))
}

/// The value range of each of `keys` in the object that starts at `start`. None when there is no
/// object there, a key appears twice, or a key has an escape (it could spell one of `keys`).
fn members<const N: usize>(bytes: &[u8], start: usize, keys: [&str; N]) -> Option<[Option<Range<usize>>; N]> {
    let mut found = [const { None }; N];
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let mut at = skip_whitespace(bytes, start + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(found);
    }
    loop {
        let key_end = string_end(bytes, at)?;
        let key = &bytes[at + 1..key_end - 1];
        if key.contains(&b'\\') {
            return None;
        }
        at = skip_whitespace(bytes, key_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let value_start = skip_whitespace(bytes, at + 1);
        let value_end = value_end(bytes, value_start)?;
        if let Some(index) = keys.iter().position(|&wanted| wanted.as_bytes() == key) {
            if found[index].replace(value_start..value_end).is_some() {
                return None;
            }
        }
        at = skip_whitespace(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b'}') => return Some(found),
            _ => return None,
        }
    }
}

/// One past the end of the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match bytes.get(at)? {
                    b'"' => {
                        at = string_end(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let length = bytes[start..].iter().position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace());
            Some(start + length.unwrap_or(bytes.len() - start)).filter(|&end| end > start)
        }
    }
}

/// One past the closing quote of the string whose opening quote is at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let mut at = start + 1;
    loop {
        match bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::canonicalize;
    use crate::tokenizer::bpe::tests::{standard_added, tokenizer_json, MERGES};

    fn upgraded(json: &str) -> Value {
        serde_json::from_str(&tokenizers1::canonicalize_str(json).expect("upgrades")).expect("JSON")
    }

    fn spliced(json: &str) -> Value {
        serde_json::from_str(&canonicalize(json).expect("takes this file")).expect("JSON")
    }

    #[test]
    fn equals_the_whole_upgrade() {
        let mut file = tokenizer_json(MERGES, standard_added());
        assert_eq!(spliced(&file.to_string()), upgraded(&file.to_string()));
        // Pretty-printed, merges before the vocabulary, escapes and braces inside strings.
        let vocab = file["model"]["vocab"].take();
        let merges = file["model"]["merges"].take();
        let mut model = file["model"].take();
        model["merges"] = merges;
        model["vocab"] = vocab;
        model["vocab"]["a\"}]{[\\b"] = json!(9999);
        file["model"] = model;
        let pretty = serde_json::to_string_pretty(&file).expect("JSON");
        assert_eq!(spliced(&pretty), upgraded(&pretty));
        let empty = tokenizer_json(&[], Vec::new()).to_string();
        assert_eq!(spliced(&empty), upgraded(&empty));
    }

    #[test]
    fn declines_what_it_cannot_splice() {
        let mut legacy = tokenizer_json(MERGES, standard_added());
        legacy["model"]["merges"] = json!(["Ġ t", "h e"]);
        assert!(canonicalize(&legacy.to_string()).is_none(), "merges spelled as strings");
        let file = tokenizer_json(MERGES, standard_added()).to_string();
        let twice = file.replacen("\"model\":", "\"model\":{},\"model\":", 1);
        assert!(canonicalize(&twice).is_none(), "a key twice");
        assert!(canonicalize(&file[..file.len() - 1]).is_none(), "cut short");
        assert!(canonicalize("[]").is_none());
    }
}
