//! The proof of the fast backend: ids and byte offsets equal to the `tokenizers` crate's on a
//! deterministic corpus, for every real vocabulary of the tokenizer zoo plus variants of them
//! built to reach the other supported shapes.
//!
//! Run by `tests/compat/test_bpe_backend.py` (which builds the zoo first) as
//! `cargo test --release bpe_differential -- --include-ignored --nocapture`. Settings:
//! `FASTMASK_ZOO_DIR` (default `<crate>/.cache/tokenizer_zoo`, one `<family>/tokenizer.json`
//! each) and `FASTMASK_BPE_CORPUS` (strings per vocabulary, default 20,000; raise it for a
//! large run). Families absent from the zoo are reported and skipped.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tokenizer::bpe::merge::byte_chars;
use crate::tokenizer::bpe::pattern::{escape_class, CATEGORY_NAMES};
use crate::tokenizer::bpe::{is_nfc, FastBpe};
use crate::tokenizer::{Side, TokenOffsets, Truncation};

const ZOO_ENV: &str = "FASTMASK_ZOO_DIR";
const SIZE_ENV: &str = "FASTMASK_BPE_CORPUS";
const DEFAULT_SIZE: usize = 20_000;
/// Real byte-level vocabularies the zoo builds: qwen2/qwen3 share Qwen's vocabulary with
/// different added tokens; qwen3_5 (Qwen3.5/3.6's vocabulary) is built by the pytest driver.
const FAMILIES: &[&str] = &["qwen2", "qwen3", "deepseek", "tekken", "qwen3_5"];

/// A vocabulary to check: a zoo family, or a variant of one with some parts of the JSON replaced.
pub(in crate::tokenizer) struct Case {
    pub(in crate::tokenizer) name: String,
    pub(in crate::tokenizer) json: String,
}

#[test]
#[ignore = "needs the tokenizer zoo and a release build: run by tests/compat/test_bpe_backend.py"]
fn bpe_differential() {
    let size = corpus_size(SIZE_ENV);
    let cases = zoo_cases("bpe_differential", FAMILIES, with_variants);
    if cases.is_empty() {
        return;
    }
    let started = Instant::now();
    let reports = run_parallel(&cases, |case| check(case, size));
    let mut failed = false;
    for report in &reports {
        println!(
            "bpe_differential: {}: {} strings ({} bytes), {} deferred to tokenizers (not NFC), {} mismatches \
             (load {:.1?}, check {:.1?})",
            report.name,
            report.strings,
            report.bytes,
            report.deferred,
            report.mismatches.len(),
            report.load,
            report.run
        );
        for mismatch in report.mismatches.iter().take(5) {
            println!("  MISMATCH {mismatch}");
        }
        failed |= !report.mismatches.is_empty() || !report.declined.is_empty();
        if !report.declined.is_empty() {
            println!("  DECLINED {}", report.declined);
        }
        assert!(report.deferred * 5 < report.strings.max(1), "{}: most strings were deferred", report.name);
    }
    println!("bpe_differential: {} vocabularies checked in {:.1?}", reports.len(), started.elapsed());
    assert!(!failed, "the fast backend differs from tokenizers");
}

/// The strings per vocabulary: the environment variable `name`, else 20,000.
pub(in crate::tokenizer) fn corpus_size(name: &str) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SIZE)
}

/// The cases of `families` found in the zoo (`FASTMASK_ZOO_DIR`), each with its variants; a family
/// missing from it is reported as SKIPPED under the test's name.
pub(in crate::tokenizer) fn zoo_cases(
    test: &str,
    families: &[&str],
    variants: fn(&str, String) -> Vec<Case>,
) -> Vec<Case> {
    let zoo = std::env::var_os(ZOO_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/tokenizer_zoo"));
    let mut cases = Vec::new();
    for family in families {
        let path = zoo.join(family).join("tokenizer.json");
        match std::fs::read_to_string(&path) {
            Ok(json) => cases.extend(variants(family, json)),
            Err(_) => eprintln!("{test}: SKIPPED {family}: no {} (build the zoo first)", path.display()),
        }
    }
    if cases.is_empty() {
        eprintln!("{test}: SKIPPED: no tokenizer zoo under {} (set {ZOO_ENV})", zoo.display());
    }
    cases
}

/// `check` over every case, on two threads (the CI machine's cores).
pub(in crate::tokenizer) fn run_parallel(cases: &[Case], check: impl Fn(&Case) -> Report + Sync) -> Vec<Report> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(case) = cases.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        done.push(check(case));
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    })
}

/// The fast split matcher's character classes equal onig's over every code point: `\s`, `\S`,
/// each general category it accepts (and its negation), and each case-insensitive ASCII letter.
#[test]
#[ignore = "scans all of Unicode through onig (seconds in release): run by tests/compat/test_bpe_backend.py"]
fn bpe_differential_unicode_tables() {
    let all: String = (0..0x11_0000u32).filter_map(char::from_u32).collect();
    let mut escapes = vec![r"\s".to_owned(), r"\S".to_owned()];
    for name in CATEGORY_NAMES {
        escapes.push(format!(r"\p{{{name}}}"));
        escapes.push(format!(r"\P{{{name}}}"));
    }
    for letter in ('a'..='z').chain('A'..='Z') {
        escapes.push(format!("(?i:{letter})"));
    }
    for escape in &escapes {
        let class = escape_class(escape).unwrap_or_else(|| panic!("{escape} parses to one class"));
        let regex = onig::Regex::new(&format!("(?:{escape})+")).expect("onig compiles");
        let mut in_onig = vec![false; 0x11_0000];
        for (start, end) in regex.find_iter(&all) {
            for c in all[start..end].chars() {
                in_onig[c as usize] = true;
            }
        }
        let differing: Vec<String> = all
            .chars()
            .filter(|&c| class.contains(c) != in_onig[c as usize])
            .take(5)
            .map(|c| format!("U+{:04X}", c as u32))
            .collect();
        assert!(differing.is_empty(), "{escape}: differs from onig at {differing:?}");
    }
    println!("bpe_differential_unicode_tables: {} classes equal onig's over all code points", escapes.len());
}

/// A family and the variants built from it: Qwen's vocabulary without `ignore_merges` (every
/// piece goes through the merge loop), with GPT-2's lone ByteLevel pre-tokenizer, and with added
/// tokens carrying every flag; DeepSeek with offsets trimmed by the ByteLevel post-processor.
pub(in crate::tokenizer) fn with_variants(family: &str, json: String) -> Vec<Case> {
    let mut cases = vec![Case { name: family.to_owned(), json: json.clone() }];
    type Edit = (&'static str, fn(&mut Value));
    let edits: Vec<Edit> = match family {
        "qwen2" => vec![
            ("no-ignore-merges", |v| v["model"]["ignore_merges"] = json!(false)),
            ("gpt2-byte-level", |v| {
                v["pre_tokenizer"] =
                    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
                v["normalizer"] = json!(null);
            }),
            ("added-flags", add_flagged_tokens),
        ],
        "deepseek" => vec![("trim-offsets", |v| {
            v["post_processor"] =
                json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true});
        })],
        _ => Vec::new(),
    };
    for (variant, edit) in edits {
        let mut value: Value = serde_json::from_str(&json).expect("zoo JSON parses");
        edit(&mut value);
        cases.push(Case { name: format!("{family}:{variant}"), json: value.to_string() });
    }
    cases
}

/// Marks some of Qwen's added tokens lstrip/rstrip/single_word/normalized and adds tokens that
/// overlap ordinary text, so every branch of the added-token split meets real text.
fn add_flagged_tokens(v: &mut Value) {
    let tokens = v["added_tokens"].as_array_mut().expect("added_tokens");
    let mut next_id = tokens.iter().filter_map(|t| t["id"].as_u64()).max().unwrap_or(0) + 1;
    for token in tokens.iter_mut() {
        match token["content"].as_str() {
            Some("<|im_start|>") => token["rstrip"] = json!(true),
            Some("<|im_end|>") => token["lstrip"] = json!(true),
            Some("<tool_call>") => {
                token["lstrip"] = json!(true);
                token["rstrip"] = json!(true);
            }
            Some("</tool_call>") => token["single_word"] = json!(true),
            Some("<|fim_prefix|>") => token["normalized"] = json!(true),
            _ => {}
        }
    }
    for (content, single_word, lstrip, rstrip, normalized) in [
        ("the", false, false, false, true),
        ("ing ", false, false, true, false),
        ("word", true, false, false, true),
        (" é", false, true, false, true),
        ("\n\n", false, false, true, false),
    ] {
        tokens.push(json!({"id": next_id, "content": content, "single_word": single_word, "lstrip": lstrip,
                           "rstrip": rstrip, "normalized": normalized, "special": false}));
        next_id += 1;
    }
}

pub(in crate::tokenizer) struct Report {
    pub(in crate::tokenizer) name: String,
    pub(in crate::tokenizer) strings: usize,
    pub(in crate::tokenizer) bytes: usize,
    pub(in crate::tokenizer) deferred: usize,
    pub(in crate::tokenizer) mismatches: Vec<String>,
    /// Why the engine was not built for this case; empty when it was.
    pub(in crate::tokenizer) declined: String,
    pub(in crate::tokenizer) load: Duration,
    pub(in crate::tokenizer) run: Duration,
}

impl Report {
    pub(in crate::tokenizer) fn new(name: &str) -> Report {
        Report {
            name: name.to_owned(),
            strings: 0,
            bytes: 0,
            deferred: 0,
            mismatches: Vec::new(),
            declined: String::new(),
            load: Duration::ZERO,
            run: Duration::ZERO,
        }
    }
}

/// An engine under test: ids and offsets of a text, truncated; None where it leaves the text to
/// the reference.
pub(in crate::tokenizer) type Encode<'a> = dyn Fn(&str, Option<Truncation>) -> Option<TokenOffsets> + 'a;

/// The case's tokenizer as the reference encodes with it (stored truncation and padding cleared).
pub(in crate::tokenizer) fn reference(case: &Case) -> tokenizers::Tokenizer {
    let mut tokenizer = tokenizers::Tokenizer::from_str(&case.json).expect("the reference loads");
    tokenizer.with_truncation(None).expect("no truncation");
    tokenizer.with_padding(None);
    tokenizer
}

/// `engine` against `reference` on `size` corpus strings, truncation every eighth; a text the
/// engine leaves to the reference is deferred where `may_defer` allows it, else a mismatch.
pub(in crate::tokenizer) fn compare(
    report: &mut Report,
    reference: &tokenizers::Tokenizer,
    engine: &Encode,
    may_defer: &dyn Fn(&str) -> bool,
    size: usize,
) {
    let started = Instant::now();
    let mut corpus = Corpus::new(reference, &report.name);
    let mut truncating = reference.clone();
    for index in 0..size {
        let text = corpus.next_text();
        report.strings += 1;
        report.bytes += text.len();
        let expected = reference.encode(text.as_str(), false).expect("the reference encodes");
        match engine(&text, None) {
            None if may_defer(&text) => report.deferred += 1,
            None => report.mismatches.push(format!("{text:?}: declined a text it must take")),
            Some(got) => {
                if got.ids != expected.get_ids() || got.offsets != expected.get_offsets() {
                    report.mismatches.push(format!(
                        "{text:?}\n    engine ids {:?} offsets {:?}\n    tokenizers ids {:?} offsets {:?}",
                        got.ids,
                        got.offsets,
                        expected.get_ids(),
                        expected.get_offsets()
                    ));
                } else if index % TRUNCATION_EVERY == 0 {
                    check_truncation(engine, &mut truncating, &text, got.ids.len(), index, report);
                }
            }
        }
    }
    report.run = started.elapsed();
}

fn check(case: &Case, size: usize) -> Report {
    let started = Instant::now();
    let mut report = Report::new(&case.name);
    let tokenizer = reference(case);
    let Some(fast) = FastBpe::from_tokenizer(&tokenizer) else {
        report.declined = "the fast backend declined this supported shape".to_owned();
        return report;
    };
    report.load = started.elapsed();
    let nfc = matches!(&tokenizer.get_normalizer(), Some(n) if serde_json::to_value(n).is_ok_and(|v| v.to_string().contains("NFC")));
    let encode = |text: &str, truncation| fast.encode_truncated(text, truncation);
    compare(&mut report, &tokenizer, &encode, &|text| nfc && !is_nfc(text), size);
    report
}

/// Every this many strings, truncation is checked too (a cut inside the text, either side).
const TRUNCATION_EVERY: usize = 8;

fn check_truncation(
    engine: &Encode,
    reference: &mut tokenizers::Tokenizer,
    text: &str,
    full: usize,
    index: usize,
    report: &mut Report,
) {
    use tokenizers::{TruncationDirection, TruncationParams};

    let (side, direction) = if index.is_multiple_of(16) {
        (Side::Left, TruncationDirection::Left)
    } else {
        (Side::Right, TruncationDirection::Right)
    };
    let max_length = full * (index % 7) / 7;
    reference
        .with_truncation(Some(TruncationParams { max_length, direction, ..Default::default() }))
        .expect("truncation");
    let expected = reference.encode(text, false).expect("the reference encodes");
    let got = engine(text, Some(Truncation { max_length, side }));
    if got.as_ref().map(|t| (&t.ids[..], &t.offsets[..])) != Some((expected.get_ids(), expected.get_offsets())) {
        report.mismatches.push(format!("{text:?} truncated to {max_length} from {side:?}: {got:?}"));
    }
}

/// A small seeded xorshift generator: the corpus is the same on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn pick_string(&mut self, items: &[String]) -> String {
        items[self.below(items.len())].clone()
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const NATURAL: &[&str] = &[
    "The quick brown fox jumps over the lazy dog. It's what they'd've wanted, isn't it?",
    "I'M SURE THEY'LL SAY IT'S JOHN'S; we've DONE it, you'RE right, she'S here.",
    "Le cœur a ses raisons que la raison ne connaît point. Ça va? Où êtes-vous, Anaïs?",
    "Straße, Größe, Übermaß — »Anführungszeichen« und „deutsche“ Zitate.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Ελληνικά κείμενα με τόνους.",
    "نص عربي للاختبار، مع أرقام ١٢٣٤٥ وعلامات ترقيم؟",
    "עברית: זהו משפט לבדיקה, עם ניקוד: שָׁלוֹם.",
    "हिन्दी में एक वाक्य: नमस्ते दुनिया! क्षत्रिय, ज्ञान, श्री।",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ เช่น สวัสดีครับ",
    "中文分词测试：你好，世界！这是一个用于测试的句子。人工智能（AI）正在改变世界。",
    "日本語のテキスト、カタカナとひらがなと漢字。東京都渋谷区１－２－３",
    "한국어 텍스트입니다. 안녕하세요, 세계! 띄어쓰기가 있습니다.",
    "Tiếng Việt có dấu: Xin chào thế giới, người Việt Nam.",
    "Türkçe: İstanbul'da ılık bir gün; ĞÜŞİÖÇ ğüşıöç.",
    "Polski: Zażółć gęślą jaźń. Čeština: Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "ኢትዮጵያ አማርኛ ፊደል። ქართული ენა. Հայերեն լեզու.",
    "Emoji in text 😀😃😄 and 👍🏽 or 👨‍👩‍👧‍👦 families, 🇫🇷🇯🇵 flags, ✨🔥💯, keycap 1️⃣ #️⃣.",
    "Math: ∀x ∈ ℝ, x² ≥ 0; ∑_{i=1}^{n} i = n(n+1)/2 ≈ ∞ ≠ ∅ ⊂ ℕ → ℤ.",
    "Prices: $1,299.99, €5, ¥1000, £3.50; 50% off!!! (limited) [sic] {x} <tag> & more...",
    "Mixed Ελληνικά Русский עברית العربية हिन्दी ไทย 中文 日本語 한국어 in one line.",
    "tabs\tand\ttabs\t\tand  double  spaces   triple   spaces    quad",
];

const CODE: &[&str] = &[
    "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{v:?}\");\n}\n",
    "{\"name\": \"fastmask\", \"version\": \"0.1.0\", \"tags\": [\"a\", \"b\"], \"n\": 12345678, \"ok\": true}",
    "<!DOCTYPE html>\n<html><body><div class=\"x\">Hello &amp; welcome</div></body></html>\r\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "#include <stdio.h>\r\nint main(void) {\r\n\tprintf(\"%d\\n\", 42);\r\n\treturn 0;\r\n}\r\n",
    "    if (x === undefined) { throw new Error(`bad ${x}`); } // TODO: fix\n\n\n",
    "$ cargo test --release -- --nocapture 2>&1 | tee log.txt && echo \"done\"",
    "base64: aGVsbG8gd29ybGQhIFRoaXMgaXMgYSB0ZXN0IG9mIGJhc2U2NCBlbmNvZGluZy4=\nsha: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
];

const SPACES: &[&str] = &[
    " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", "\r\n\r\n", " \n", "\n ", "\u{a0}", "\u{3000}",
    "\u{2009}", "\u{200b}", "\u{85}", "\u{2028}", "\u{2029}", "\u{1680}", "\u{feff}", "\u{b}", "\u{c}", "\u{202f}",
];

const EMOJI: &[&str] = &[
    "😀",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇫🇷",
    "🇯🇵",
    "❤️",
    "1️⃣",
    "#️⃣",
    "🧑🏿‍💻",
    "👩‍❤️‍💋‍👨",
    "✨",
    "🤖",
    "☃",
    "⚡️",
    "🫠",
    "🦀",
    "🐍",
    "\u{fe0f}",
    "\u{200d}",
];

const FRAGMENTS: &[&str] = &[
    // Invalid-looking sequences: escapes of bytes and surrogates, replacement characters,
    // SentencePiece's own markers written as text.
    "<0xFF>",
    "<0x0A>",
    "\\ud800",
    "\u{FFFD}\u{FFFD}",
    "\u{2581}",
    "\u{2581}\u{2581}x",
    "%C3%28",
    "a",
    "e",
    "the",
    "The",
    " the",
    "ing",
    "tion",
    "'s",
    "'S",
    "'re",
    "'ll",
    "n't",
    "don't",
    "1",
    "12",
    "123",
    "2024",
    "0.5",
    "-",
    "--",
    "...",
    "!",
    "?",
    ",",
    ".",
    ":",
    "::",
    "->",
    "=>",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "`",
    "/",
    "\\",
    "_",
    "__init__",
    "é",
    "e\u{301}",
    "ß",
    "ﬁ",
    "Å",
    "ǅ",
    "ſ",
    "中",
    "文",
    "한",
    "ア",
    "ｱ",
    "١",
    "٣",
    "Ⅻ",
    "½",
    "²",
    "\u{300}",
    "\u{301}",
    "\u{327}",
    "\u{93f}",
    "\u{e31}",
    "\u{0}",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{ad}",
    "\u{e000}",
    "\u{fffd}",
    "\u{10ffff}",
    "\u{1d400}",
    "'\u{17f}",
    "'\u{212a}",
    "\u{212a}",
    "'LL",
    "'Re",
    "'",
];

pub(in crate::tokenizer) struct Corpus {
    rng: Rng,
    added: Vec<String>,
    tokens: Vec<String>,
}

impl Corpus {
    pub(in crate::tokenizer) fn new(tokenizer: &tokenizers::Tokenizer, name: &str) -> Corpus {
        let seed = name.bytes().fold(0x243F_6A88_85A3_08D3u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3));
        let mut added: Vec<String> = tokenizer.get_added_tokens_decoder().into_values().map(|t| t.content).collect();
        added.sort();
        // Chat markers first, so the small share of picks that go to them finds them often.
        added.sort_by_key(|t| {
            !(t.contains("im_") || t.contains("think") || t.contains("tool") || t.contains("sentence"))
        });
        let byte_of: std::collections::HashMap<char, u8> =
            byte_chars().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let mut tokens: Vec<(u32, String)> = tokenizers::Model::get_vocab(tokenizer.get_model())
            .into_iter()
            .map(|(token, id)| {
                let bytes: Option<Vec<u8>> = token.chars().map(|c| byte_of.get(&c).copied()).collect();
                // Not byte-level: a SentencePiece piece, whose '▁' spells a space.
                let text =
                    bytes.and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| token.replace('\u{2581}', " "));
                (id, text)
            })
            .collect();
        tokens.sort();
        Corpus { rng: Rng(seed | 1), added, tokens: tokens.into_iter().map(|(_, t)| t).collect() }
    }

    pub(in crate::tokenizer) fn next_text(&mut self) -> String {
        let mut text = String::new();
        match self.rng.below(100) {
            0..=11 => self.natural(&mut text),
            12..=17 => text.push_str(self.rng.pick(CODE)),
            18..=25 => self.whitespace(&mut text),
            26..=31 => self.digits(&mut text),
            32..=36 => self.emoji(&mut text),
            37..=46 => self.random_unicode(&mut text),
            47..=62 => self.vocab_tokens(&mut text),
            63..=69 => self.repeated(&mut text),
            70..=89 => self.chat(&mut text),
            90..=98 => self.mixed(&mut text),
            _ => {
                for _ in 0..10 + self.rng.below(20) {
                    self.mixed(&mut text);
                }
            }
        }
        text
    }

    fn natural(&mut self, text: &mut String) {
        for i in 0..1 + self.rng.below(3) {
            if i > 0 {
                text.push_str(self.rng.pick(SPACES));
            }
            let sentence = self.rng.pick(NATURAL);
            // Sometimes only a slice of it, cut at a character boundary.
            if self.rng.chance(30) {
                let chars: Vec<char> = sentence.chars().collect();
                let a = self.rng.below(chars.len());
                let b = a + self.rng.below(chars.len() - a + 1);
                text.extend(&chars[a..b]);
            } else {
                text.push_str(sentence);
            }
        }
    }

    fn whitespace(&mut self, text: &mut String) {
        for _ in 0..1 + self.rng.below(24) {
            if self.rng.chance(60) {
                text.push_str(self.rng.pick(SPACES));
            } else {
                text.push_str(self.rng.pick(FRAGMENTS));
            }
        }
    }

    fn digits(&mut self, text: &mut String) {
        for _ in 0..1 + self.rng.below(6) {
            let longest = if self.rng.chance(20) { 40 } else { 6 };
            let len = 1 + self.rng.below(longest);
            for _ in 0..len {
                let digit = self.rng.below(10) as u32;
                let base = self.rng.pick(&['0' as u32, '0' as u32, '0' as u32, 0x660, 0xFF10, 0x966, 0x1D7CE]);
                text.push(char::from_u32(base + digit).unwrap_or('0'));
            }
            text.push_str(self.rng.pick(&[" ", ".", ",", "", "-", "e", "x", "\n", "%", " + "]));
        }
    }

    fn emoji(&mut self, text: &mut String) {
        for _ in 0..1 + self.rng.below(8) {
            text.push_str(self.rng.pick(EMOJI));
            if self.rng.chance(30) {
                text.push_str(self.rng.pick(&[" ", "", "a", "\n", "!"]));
            }
        }
    }

    fn random_unicode(&mut self, text: &mut String) {
        const RANGES: &[(u32, u32)] = &[
            (0x20, 0x7F),
            (0x0, 0x20),
            (0xA0, 0x250),
            (0x300, 0x370),
            (0x370, 0x530),
            (0x590, 0x700),
            (0x900, 0x980),
            (0xE00, 0xE80),
            (0x1100, 0x1200),
            (0x1E00, 0x1F00),
            (0x2000, 0x2070),
            (0x20D0, 0x2100),
            (0x3000, 0x3100),
            (0x4E00, 0x9FFF),
            (0xAC00, 0xD7A4),
            (0xE000, 0xE100),
            (0xFE00, 0xFE10),
            (0xFF00, 0xFFF0),
            (0x1F300, 0x1FAFF),
            (0x10000, 0x110000),
        ];
        for _ in 0..1 + self.rng.below(30) {
            let (lo, hi) = self.rng.pick(RANGES);
            let code = lo + self.rng.below((hi - lo) as usize) as u32;
            if let Some(c) = char::from_u32(code) {
                text.push(c);
            }
        }
    }

    /// Concatenated vocabulary tokens: merge-order corner cases, where pieces are near-tokens.
    fn vocab_tokens(&mut self, text: &mut String) {
        for _ in 0..1 + self.rng.below(10) {
            let token = self.rng.pick_string(&self.tokens);
            text.push_str(&token);
            if self.rng.chance(15) {
                text.push_str(self.rng.pick(FRAGMENTS));
            }
        }
    }

    /// A unit repeated: long words and runs, past the scan merge's length into the heap merge.
    fn repeated(&mut self, text: &mut String) {
        let unit = match self.rng.below(4) {
            0 => self.rng.pick(FRAGMENTS).to_string(),
            1 => self.rng.pick(SPACES).to_string(),
            2 => self.rng.pick_string(&self.tokens),
            _ => self.rng.pick(&["a", "ab", "aab", "ー", "==", "-", "0", "😀", "ab ", " a"]).to_string(),
        };
        let most = if self.rng.chance(30) { 400 } else { 40 };
        let times = 2 + self.rng.below(most);
        for _ in 0..times {
            text.push_str(&unit);
        }
    }

    /// Chat-template-like text: added tokens next to text, whitespace and each other, and
    /// broken or partial markers.
    fn chat(&mut self, text: &mut String) {
        for _ in 0..1 + self.rng.below(8) {
            match self.rng.below(10) {
                0..=3 => self.added_token(text),
                4 => {
                    let token = self.added_token_string();
                    let cut = self.rng.below(token.len() + 1);
                    text.push_str(&token[..floor(&token, cut)]);
                }
                5 => text.push_str(self.rng.pick(SPACES)),
                6 => text.push_str(self.rng.pick(&["user", "assistant", "system", "tool", "\n", ": ", "<", "|>"])),
                7 => self.natural(text),
                8 => self.vocab_tokens(text),
                _ => text.push_str(self.rng.pick(FRAGMENTS)),
            }
        }
    }

    fn added_token_string(&mut self) -> String {
        if self.added.is_empty() {
            return "<|im_start|>".to_owned();
        }
        // Half the picks among the first few (chat markers), half among all.
        let n = if self.rng.chance(50) { self.added.len().min(12) } else { self.added.len() };
        self.added[self.rng.below(n)].clone()
    }

    fn added_token(&mut self, text: &mut String) {
        let token = self.added_token_string();
        text.push_str(&token);
    }

    fn mixed(&mut self, text: &mut String) {
        match self.rng.below(7) {
            0 => self.natural(text),
            1 => text.push_str(self.rng.pick(CODE)),
            2 => self.whitespace(text),
            3 => self.digits(text),
            4 => self.emoji(text),
            5 => self.vocab_tokens(text),
            _ => self.chat(text),
        }
    }
}

fn floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
