//! Added tokens, split out of the text before anything else, exactly as `tokenizers`'
//! `AddedVocabulary::extract_and_normalize` does: first the tokens with `normalized: false`
//! on the raw text, then those with `normalized: true` on each remaining piece (after the
//! normalizer, which the fast path only runs when it leaves the text unchanged).
//!
//! Matching uses `daachorse` with `LeftmostLongest`, as `tokenizers` does; a match rejected by
//! `single_word` is skipped without searching inside it again, and `lstrip`/`rstrip`/
//! `single_word` use the same `regex` crate checks (`\s*$`, `^\s*`, `\w$`, `^\w`).

use std::sync::LazyLock;

use daachorse::{DoubleArrayAhoCorasick, DoubleArrayAhoCorasickBuilder, MatchKind};
use regex::Regex;

static STARTS_WITH_WORD: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\w").ok());
static ENDS_WITH_WORD: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\w$").ok());
static RIGHTMOST_SPACE_AT_START: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\s*").ok());
static LEFTMOST_SPACE_AT_END: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\s*$").ok());

/// One added token as the loaded tokenizer holds it.
#[derive(Debug, Clone)]
pub(super) struct AddedSpec {
    pub id: u32,
    /// The text it matches: its content, or the normalizer's output for `normalized` tokens.
    pub pattern: String,
    pub normalized: bool,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    /// Special and the tokenizer has `encode_special_tokens` set: found, then ignored.
    pub skipped: bool,
}

pub(super) struct AddedTokens {
    raw: Option<Trie>,
    normalized: Option<Trie>,
}

struct Trie {
    automaton: DoubleArrayAhoCorasick<u32>,
    /// Indexed by the automaton's values.
    specs: Vec<AddedSpec>,
}

impl Trie {
    fn new(specs: Vec<AddedSpec>) -> Option<Option<Trie>> {
        if specs.is_empty() {
            return Some(None);
        }
        let automaton = DoubleArrayAhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build_with_values(specs.iter().zip(0u32..).map(|(spec, i)| (spec.pattern.as_bytes(), i)))
            .ok()?;
        Some(Some(Trie { automaton, specs }))
    }
}

/// Which trie a split uses.
#[derive(Clone, Copy)]
pub(super) enum Pass {
    Raw,
    Normalized,
}

impl AddedTokens {
    /// None when the tokens cannot be built into tries (duplicate or empty patterns, which make
    /// `tokenizers` fail to load the file too).
    pub(super) fn new(specs: Vec<AddedSpec>) -> Option<AddedTokens> {
        LazyLock::force(&STARTS_WITH_WORD).as_ref()?;
        LazyLock::force(&ENDS_WITH_WORD).as_ref()?;
        LazyLock::force(&RIGHTMOST_SPACE_AT_START).as_ref()?;
        LazyLock::force(&LEFTMOST_SPACE_AT_END).as_ref()?;
        let (normalized, raw): (Vec<_>, Vec<_>) = specs.into_iter().partition(|spec| spec.normalized);
        Some(AddedTokens { raw: Trie::new(raw)?, normalized: Trie::new(normalized)? })
    }

    /// Splits `text[start..end]`: `f(start, end, Some(id))` for an added token (its span includes
    /// the whitespace `lstrip`/`rstrip` take), `f(start, end, None)` for the text between them.
    /// Spans are absolute; none is empty.
    pub(super) fn split(
        &self,
        pass: Pass,
        text: &str,
        start: usize,
        end: usize,
        mut f: impl FnMut(usize, usize, Option<u32>),
    ) {
        if start == end {
            return;
        }
        let trie = match pass {
            Pass::Raw => &self.raw,
            Pass::Normalized => &self.normalized,
        };
        let Some(trie) = trie else {
            f(start, end, None);
            return;
        };
        let sentence = &text[start..end];
        let mut offset = 0;
        for found in trie.automaton.leftmost_find_iter(sentence) {
            let spec = &trie.specs[found.value() as usize];
            let (mut s, mut e) = (found.start(), found.end());
            if spec.skipped {
                continue;
            }
            if spec.single_word {
                let space_before = s == 0 || !is_match(&ENDS_WITH_WORD, &sentence[..s]);
                let space_after = e == sentence.len() || !is_match(&STARTS_WITH_WORD, &sentence[e..]);
                if !space_before || !space_after {
                    continue;
                }
            }
            if spec.lstrip {
                let new_start = find(&LEFTMOST_SPACE_AT_END, &sentence[..s]).map_or(s, |(ms, _)| ms);
                s = new_start.max(offset);
            }
            if spec.rstrip {
                e += find(&RIGHTMOST_SPACE_AT_START, &sentence[e..]).map_or(0, |(_, me)| me);
            }
            if offset < s {
                f(start + offset, start + s, None);
            }
            f(start + s, start + e, Some(spec.id));
            offset = e;
        }
        if offset != sentence.len() {
            f(start + offset, end, None);
        }
    }
}

fn is_match(regex: &LazyLock<Option<Regex>>, haystack: &str) -> bool {
    regex.as_ref().is_some_and(|r| r.is_match(haystack))
}

fn find(regex: &LazyLock<Option<Regex>>, haystack: &str) -> Option<(usize, usize)> {
    regex.as_ref()?.find(haystack).map(|m| (m.start(), m.end()))
}
