//! The proof of the pipeline engine: ids and byte offsets equal to `tokenizers` 0.23's
//! `Tokenizer::encode(text, false)` on a deterministic corpus (bpe's: natural text in many
//! scripts, code, CJK, emoji, control characters, invalid-looking sequences, long runs and words,
//! added tokens in chat-like text), for every family of the tokenizer zoo and variants of them
//! that reach the other shapes it takes (SentencePiece as Gemma and with a Metaspace
//! pre-tokenizer; ByteLevel trim_offsets; added-token flags).
//!
//! Run by `tests/compat/test_pipeline_engine.py` (which builds the zoo first) as
//! `cargo test --release pipeline_differential -- --include-ignored --nocapture`. Settings:
//! `FASTMASK_ZOO_DIR`, `FASTMASK_PIPELINE_CORPUS` (strings per vocabulary, default 20,000).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::tokenizer::bpe::tests::differential::{with_variants, Case, Corpus};
use crate::tokenizer::pipeline::Pipeline;
use crate::tokenizer::{Side, Truncation};

const ZOO_ENV: &str = "FASTMASK_ZOO_DIR";
const SIZE_ENV: &str = "FASTMASK_PIPELINE_CORPUS";
const DEFAULT_SIZE: usize = 20_000;
const FAMILIES: &[&str] = &["qwen2", "qwen3", "deepseek", "tekken", "mistral_spm", "qwen3_5"];
/// Families tokenizers 1.0.0-rc.3 cannot run: Qwen3.5/3.6's Split pattern is not one its native
/// splitter knows, and its reader compiles no regex for it. The test checks that the engine is
/// refused for them (so `auto` keeps the fast BPE), and fails the day it is not.
const REFUSED: &[&str] = &["qwen3_5"];
/// Every this many strings, truncation is checked too.
const TRUNCATION_EVERY: usize = 8;

struct Report {
    name: String,
    strings: usize,
    bytes: usize,
    deferred: usize,
    mismatches: Vec<String>,
    refused: bool,
    load: Duration,
    run: Duration,
}

#[test]
#[ignore = "needs the tokenizer zoo and a release build: run by tests/compat/test_pipeline_engine.py"]
fn pipeline_differential() {
    let zoo = std::env::var_os(ZOO_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/tokenizer_zoo"));
    let size = std::env::var(SIZE_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SIZE);
    let mut cases = Vec::new();
    for family in FAMILIES {
        let path = zoo.join(family).join("tokenizer.json");
        match std::fs::read_to_string(&path) {
            Ok(json) => cases.extend(variants(family, json)),
            Err(_) => eprintln!("pipeline_differential: SKIPPED {family}: no {} (build the zoo first)", path.display()),
        }
    }
    assert!(!cases.is_empty(), "no tokenizer zoo under {} (set {ZOO_ENV})", zoo.display());
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(case) = cases.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        done.push(check(case, size));
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    let mut failed = Vec::new();
    for report in &reports {
        println!(
            "pipeline_differential: {}: {} strings ({} bytes), {} deferred to tokenizers 0.23, {} mismatches{} \
             (load {:.1?}, check {:.1?})",
            report.name,
            report.strings,
            report.bytes,
            report.deferred,
            report.mismatches.len(),
            if report.refused { ", engine refused" } else { "" },
            report.load,
            report.run
        );
        for mismatch in report.mismatches.iter().take(5) {
            println!("  MISMATCH {mismatch}");
        }
        let expect_refused = REFUSED.contains(&report.name.as_str());
        if !report.mismatches.is_empty() || report.refused != expect_refused {
            failed.push(report.name.clone());
        }
    }
    println!("pipeline_differential: {} vocabularies checked in {:.1?}", reports.len(), started.elapsed());
    assert!(failed.is_empty(), "the pipeline engine differs from tokenizers 0.23 on {failed:?}");
}

/// bpe's variants of the byte-level families, plus the SentencePiece layouts built from Mistral's
/// vocabulary: Gemma's (Replace only, no dummy prefix) and the Metaspace pre-tokenizer that
/// non-legacy Llama/Mistral conversions write.
fn variants(family: &str, json: String) -> Vec<Case> {
    if family != "mistral_spm" {
        return with_variants(family, json);
    }
    let mut cases = vec![Case { name: family.to_owned(), json: json.clone() }];
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let layouts = [
        ("gemma", replace, Value::Null),
        ("metaspace-first", Value::Null, metaspace("first")),
        ("metaspace-always", Value::Null, metaspace("always")),
    ];
    for (name, normalizer, pre_tokenizer) in layouts {
        let mut value: Value = serde_json::from_str(&json).expect("zoo JSON parses");
        value["normalizer"] = normalizer;
        value["pre_tokenizer"] = pre_tokenizer;
        cases.push(Case { name: format!("{family}:{name}"), json: value.to_string() });
    }
    cases
}

fn metaspace(scheme: &str) -> Value {
    json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": scheme, "split": false})
}

fn check(case: &Case, size: usize) -> Report {
    let started = Instant::now();
    let mut report = Report {
        name: case.name.clone(),
        strings: 0,
        bytes: 0,
        deferred: 0,
        mismatches: Vec::new(),
        refused: false,
        load: Duration::ZERO,
        run: Duration::ZERO,
    };
    let mut tokenizer = tokenizers::Tokenizer::from_str(&case.json).expect("the reference loads");
    tokenizer.with_truncation(None).expect("no truncation");
    tokenizer.with_padding(None);
    let Some(engine) = Pipeline::new(&case.json, &tokenizer) else {
        report.refused = true;
        return report;
    };
    report.load = started.elapsed();
    let mut corpus = Corpus::new(&tokenizer, &case.name);
    let mut truncating = tokenizer.clone();
    for index in 0..size {
        let text = corpus.next_text();
        report.strings += 1;
        report.bytes += text.len();
        let expected = tokenizer.encode(text.as_str(), false).expect("the reference encodes");
        let Some(got) = engine.encode_truncated(&text, None) else {
            report.deferred += 1;
            continue;
        };
        if got.ids != expected.get_ids() || got.offsets != expected.get_offsets() {
            report.mismatches.push(format!(
                "{text:?}\n    pipeline ids {:?} offsets {:?}\n    tokenizers ids {:?} offsets {:?}",
                got.ids,
                got.offsets,
                expected.get_ids(),
                expected.get_offsets()
            ));
        } else if index % TRUNCATION_EVERY == 0 {
            check_truncation(&engine, &mut truncating, &text, got.ids.len(), index, &mut report);
        }
    }
    report.run = started.elapsed() - report.load;
    report
}

fn check_truncation(
    engine: &Pipeline,
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
    let got = engine.encode_truncated(text, Some(Truncation { max_length, side }));
    if got.as_ref().map(|t| (&t.ids[..], &t.offsets[..])) != Some((expected.get_ids(), expected.get_offsets())) {
        report.mismatches.push(format!("{text:?} truncated to {max_length} from {side:?}: {got:?}"));
    }
}
