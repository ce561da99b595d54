//! What a text's characters allow before it is encoded: whether 0.23 and 1.0 split it alike, and
//! whether an NFC normalizer would leave it as it is.

use unicode_general_category::{get_general_category, GeneralCategory};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfc_quick, IsNormalized};

/// One pass over a text's characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextChars {
    /// Every character is assigned in the Unicode version of 0.23's regex engine (onig, Unicode
    /// 16.0, as `unicode-general-category` 1.1). tokenizers 1.0's splitter classifies by Unicode
    /// 17, where characters new in 17 have a category and in 16 are unassigned (`Cn`): U+1F6D8 is
    /// a symbol to one and not the other, so the two split "🛘ר" differently and their ids differ
    /// while the pieces of each still tile the text. Such texts take the reference path.
    pub(super) assigned: bool,
    /// Every character is a starter (canonical combining class 0) that NFC keeps (NFC_QC=Yes):
    /// the quick check of tokenizers 1.0's NFC answers Yes for the whole text and for each of
    /// its segments, so that normalizer returns them unchanged and can be skipped.
    pub(super) nfc_stable: bool,
}

/// Per character of the Basic Multilingual Plane, its two properties as bits (8 KiB each): the
/// lookups behind them are searches over ranges, and every text with a non-ASCII character asks
/// them per character. Owned by its engine, built with it (not a lazy static: a process forked
/// while another thread built one would wait for it forever).
pub(super) struct CharTable {
    assigned: Vec<u64>,
    nfc_stable: Vec<u64>,
}

const PLAIN: TextChars = TextChars { assigned: true, nfc_stable: true };

impl CharTable {
    /// The table (about 11M instructions, a few milliseconds).
    pub(super) fn new() -> CharTable {
        let mut table = CharTable { assigned: vec![0u64; 0x10000 / 64], nfc_stable: vec![0u64; 0x10000 / 64] };
        for c in (0..0x10000u32).filter_map(char::from_u32) {
            let (word, bit) = (c as usize / 64, 1 << (c as usize % 64));
            if assigned(c) {
                table.assigned[word] |= bit;
            }
            if nfc_stable(c) {
                table.nfc_stable[word] |= bit;
            }
        }
        table
    }

    /// Both properties of `text`; stops at the first unassigned character (the text leaves the
    /// engine whatever else holds).
    pub(super) fn scan(&self, text: &str) -> TextChars {
        let bytes = text.as_bytes();
        let mut chars = PLAIN;
        let mut at = 0;
        while at < bytes.len() {
            // ASCII is assigned and NFC-stable: skipped eight bytes at a time.
            if let Some(word) = bytes.get(at..at + 8) {
                let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
                if word & 0x8080_8080_8080_8080 == 0 {
                    at += 8;
                    continue;
                }
            }
            if bytes[at] < 0x80 {
                at += 1;
                continue;
            }
            // `at` is at a character boundary: it only ever moves past whole characters.
            let Some(c) = text[at..].chars().next() else { break };
            at += c.len_utf8();
            let (assigned, nfc_stable) = self.properties(c);
            if !assigned {
                return TextChars { assigned: false, nfc_stable: false };
            }
            chars.nfc_stable &= nfc_stable;
        }
        chars
    }

    /// Whether `c` is assigned in Unicode 16, and whether it is an NFC-stable starter.
    pub(super) fn properties(&self, c: char) -> (bool, bool) {
        let code = c as usize;
        if code >= 0x10000 {
            return (assigned(c), nfc_stable(c));
        }
        let (word, bit) = (code / 64, 1 << (code % 64));
        (self.assigned[word] & bit != 0, self.nfc_stable[word] & bit != 0)
    }
}

pub(super) fn assigned(c: char) -> bool {
    get_general_category(c) != GeneralCategory::Unassigned
}

/// By the tables of the `unicode-normalization` crate tokenizers 1.0's NFC normalizer uses.
pub(super) fn nfc_stable(c: char) -> bool {
    canonical_combining_class(c) == 0 && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes
}
