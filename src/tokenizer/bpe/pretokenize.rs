//! Pre-tokenization: the `Split` regexes (and ByteLevel's own GPT-2 regex) applied in sequence,
//! each to every piece the previous one produced, with `tokenizers`' `Isolated` behaviour.
//!
//! `tokenizers` runs them on onig (its `onig` feature). Patterns within the syntax of
//! [`Pattern`] (every real byte-level tokenizer's) run on that faster matcher with onig's
//! semantics; any other pattern runs on onig itself, built the same way (`Regex::new`, default
//! Ruby syntax). Each regex sees only its piece, as in `tokenizers`.

use onig::{Regex, Region, SearchOptions};

use super::pattern::Pattern;

/// The regex ByteLevel splits with when `use_regex` is true (`tokenizers`' `byte_level::RE`).
pub(super) const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

pub(super) struct PreTokenizer {
    splits: Vec<Splitter>,
}

enum Splitter {
    Fast(Pattern),
    Onig(Regex),
}

impl PreTokenizer {
    /// None when a pattern does not compile (then `tokenizers` could not load the file either).
    pub(super) fn new(patterns: &[String]) -> Option<PreTokenizer> {
        let splits = patterns
            .iter()
            .map(|p| {
                let onig = Regex::new(p).ok()?;
                Some(match Pattern::parse(p) {
                    Some(fast) => Splitter::Fast(fast),
                    None => Splitter::Onig(onig),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(PreTokenizer { splits })
    }

    /// The same pre-tokenizer with every split on onig (for tests of the fast matcher).
    #[cfg(test)]
    pub(super) fn onig_only(patterns: &[String]) -> Option<PreTokenizer> {
        let splits = patterns.iter().map(|p| Regex::new(p).ok().map(Splitter::Onig)).collect::<Option<Vec<_>>>()?;
        Some(PreTokenizer { splits })
    }

    /// How many splits run on the fast matcher.
    #[cfg(test)]
    pub(super) fn fast_splits(&self) -> usize {
        self.splits.iter().filter(|s| matches!(s, Splitter::Fast(_))).count()
    }

    /// Calls `f(start, end)` for every non-empty final piece of `text[start..end]`, in order.
    pub(super) fn for_each_piece(
        &self,
        text: &str,
        start: usize,
        end: usize,
        region: &mut Region,
        f: &mut impl FnMut(usize, usize),
    ) {
        self.split_level(0, text, start, end, region, f);
    }

    fn split_level(
        &self,
        level: usize,
        text: &str,
        start: usize,
        end: usize,
        region: &mut Region,
        f: &mut impl FnMut(usize, usize),
    ) {
        if start == end {
            return;
        }
        let Some(regex) = self.splits.get(level) else {
            f(start, end);
            return;
        };
        // Every match and every gap between matches is a piece; empty ones are dropped, but an
        // empty match still cuts the gap around it (`Pattern for &SysRegex` + `Isolated`).
        if level + 1 == self.splits.len() {
            for_each_segment(regex, &text[start..end], region, |s, e| f(start + s, start + e));
            return;
        }
        let mut segments = Vec::new();
        for_each_segment(regex, &text[start..end], region, |s, e| segments.push((s, e)));
        for (s, e) in segments {
            self.split_level(level + 1, text, start + s, start + e, region, f);
        }
    }
}

/// The non-empty matches of `regex` in `text` and the non-empty gaps between them, in order.
fn for_each_segment(regex: &Splitter, text: &str, region: &mut Region, mut f: impl FnMut(usize, usize)) {
    let mut prev = 0;
    let search = |from: usize, region: &mut Region| match regex {
        Splitter::Fast(pattern) => pattern.search(text, from),
        Splitter::Onig(regex) => onig_search(regex, text, from, region),
    };
    find_iter(search, text, region, |s, e| {
        if prev != s {
            f(prev, s);
        }
        if s != e {
            f(s, e);
        }
        prev = e;
    });
    if prev != text.len() {
        f(prev, text.len());
    }
}

fn onig_search(regex: &Regex, text: &str, from: usize, region: &mut Region) -> Option<(usize, usize)> {
    region.clear();
    regex.search_with_options(text, from, text.len(), SearchOptions::SEARCH_OPTION_NONE, Some(region))?;
    region.pos(0)
}

/// `onig::FindMatches` over any search function: the same searches and the same rule for empty
/// matches (one right after the previous match is skipped by stepping one character).
fn find_iter(
    search: impl Fn(usize, &mut Region) -> Option<(usize, usize)>,
    text: &str,
    region: &mut Region,
    mut f: impl FnMut(usize, usize),
) {
    let mut last_end = 0;
    let mut last_match_end: Option<usize> = None;
    while last_end <= text.len() {
        let Some((s, e)) = search(last_end, region) else { return };
        if e == s && last_match_end == Some(e) {
            last_end += text[last_end..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        last_end = e;
        last_match_end = Some(e);
        f(s, e);
    }
}
