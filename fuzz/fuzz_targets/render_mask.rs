//! Template + conversation -> rendered text, spans, ids and mask, under small limits.
//!
//! Input: one options byte, the template source, then the messages, each part separated by the
//! byte 0xFF (never part of UTF-8 text, so templates and contents need no escaping):
//!
//! ```text
//! OPTIONS TEMPLATE [0xFF KIND CONTENT]...
//! ```
//!
//! OPTIONS bits: 0 add_generation_prompt, 1-2 mask source (generation, turns, auto, auto; generation
//! on a template without tags renders as transformers does, without spans, which the core only
//! gives as turns of no trained role), 3 sanitize_control_tokens, 4 truncate to 16 tokens,
//! 5 truncate on the left, 6 pass `tools`.
//! KIND picks the role (`KIND % 5`) and the message's shape (`KIND / 5 % 6`, see `message`).
//! `fuzz/run.sh` writes seeds in this format from real templates.
//!
//! Checked: no panic (libFuzzer's hook aborts on any panic, even one the core catches), errors
//! are never `Internal`, the output limit holds, span edges inside the text are character
//! boundaries that match the spans' character offsets, masked tokens overlap a span, the mask
//! over bytes is the one transformers computes over characters, the fast BPE gives exactly the
//! ids and offsets of the `tokenizers` crate, and every per-token output has one entry per id.

#![no_main]

use std::sync::{Arc, OnceLock};

use fastmask::mask::align::assistant_mask;
use fastmask::mask::encode::encode_rendered;
use fastmask::mask::turns::TurnOptions;
use fastmask::{
    Backend, CallOptions, ChatEncoder, ChatTemplate, Clock, Conversation, EncodeOptions, Error, ErrorKind, Limits,
    MaskPlan, MaskSource, RenderInputs, Rendered, Side, Tokenizer, TokenizerDefaults,
};
use libfuzzer_sys::fuzz_target;
use minijinja::value::Value;

const SEPARATOR: u8 = 0xFF;
const MAX_MESSAGES: usize = 16;
const MAX_LENGTH: usize = 16;
const ROLES: [&str; 5] = ["user", "assistant", "system", "tool", "developer"];

/// Far below the defaults, so one input runs in milliseconds and a broken limit shows quickly.
/// Limits added later keep their defaults.
#[allow(clippy::needless_update)]
fn limits() -> Limits {
    Limits {
        fuel: 300_000,
        // The default (1,500 a byte) would let a 14 KB input run 20M steps: seconds, not milliseconds.
        fuel_per_input_byte: 20,
        recursion: 100,
        output_bytes: OUTPUT_BYTES,
        string_bytes: 64 * 1024,
        template_bytes: 256 * 1024,
        input_bytes: 64 * 1024,
        input_depth: 20,
        ..Limits::default()
    }
}

const OUTPUT_BYTES: usize = 64 * 1024;

struct Tokenizers {
    fast: Arc<Tokenizer>,
    reference: Tokenizer,
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else { return };
    let mut parts = rest.split(|&byte| byte == SEPARATOR);
    let source = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let messages: Vec<Value> = parts.take(MAX_MESSAGES).map(message).collect();
    let template = match ChatTemplate::compile_with_limits(&source, Clock::Local, limits()) {
        Ok(template) => template,
        Err(err) => return check_error(&err),
    };
    let inputs = RenderInputs {
        add_generation_prompt: options & 1 != 0,
        tools: if options & 64 != 0 { tools() } else { Value::from(()) },
        ..RenderInputs::default()
    };
    let source =
        [MaskSource::Generation, MaskSource::Turns, MaskSource::Auto, MaskSource::Auto][usize::from(options >> 1 & 3)];
    let masks = if source == MaskSource::Generation && !template.has_generation() {
        let untrained = TurnOptions { roles: Vec::new(), train_key: None, ..TurnOptions::default() };
        MaskPlan { source: MaskSource::Turns, turns: untrained }
    } else {
        MaskPlan { source, ..MaskPlan::default() }
    };
    let special_tokens =
        vec![("bos_token".to_string(), Value::from("<s>")), ("eos_token".to_string(), Value::from("<|im_end|>"))];
    let encoder =
        ChatEncoder::new(template, Arc::clone(&tokenizers().fast), special_tokens, None, TokenizerDefaults::default())
            .expect("no pad token to look up");
    let call = CallOptions { masks, threads: Some(1), ..CallOptions::default() };
    let conversations = [Conversation { messages }];
    let rendered = match encoder.render_batch(&conversations, &inputs, &call) {
        Ok(mut rendered) => rendered.remove(0),
        Err(err) => return check_error(&err),
    };
    check_rendered(&rendered);
    check_encoding(&rendered, options);
});

/// A message of role `ROLES[kind % 5]` in one of the shapes templates branch on.
fn message(part: &[u8]) -> Value {
    let Some((&kind, content)) = part.split_first() else { return Value::from(()) };
    let role = Value::from(ROLES[usize::from(kind) % ROLES.len()]);
    let content = Value::from(String::from_utf8_lossy(content).into_owned());
    let pairs: Vec<(&str, Value)> = match kind / 5 % 6 {
        0 => vec![("role", role), ("content", content)],
        1 => vec![("role", role), ("content", Value::from(vec![text_part(content)]))],
        2 => vec![("role", role), ("content", Value::from(())), ("tool_calls", Value::from(vec![tool_call(content)]))],
        3 => vec![("role", role), ("reasoning_content", content.clone()), ("content", content)],
        4 => vec![("role", role), ("content", content), ("train", Value::from(false))],
        _ => vec![("role", role), ("content", content.clone()), ("name", content)],
    };
    Value::from_pairs(pairs)
}

fn text_part(text: Value) -> Value {
    Value::from_pairs([("type", Value::from("text")), ("text", text)])
}

fn tool_call(arguments: Value) -> Value {
    let function = Value::from_pairs([("name", Value::from("lookup")), ("arguments", arguments)]);
    Value::from_pairs([("type", Value::from("function")), ("id", Value::from("call_0")), ("function", function)])
}

fn tools() -> Value {
    let parameters =
        Value::from_pairs([("type", Value::from("object")), ("properties", Value::from_pairs::<_, &str, Value>([]))]);
    let function = Value::from_pairs([
        ("name", Value::from("lookup")),
        ("description", Value::from("Looks a word up.")),
        ("parameters", parameters),
    ]);
    Value::from(vec![Value::from_pairs([("type", Value::from("function")), ("function", function)])])
}

/// Every failure must be one of the core's own errors, never a caught panic, and say what went
/// wrong; only the template's own `raise_exception(...)` may give an empty message (as jinja2).
fn check_error(err: &Error) {
    assert_ne!(err.kind, ErrorKind::Internal, "{err}");
    assert!(err.kind == ErrorKind::Template || !err.message.is_empty(), "an error without a message: {err:?}");
}

/// A span starts where the top-level output stood when its block ended, so its start lies in the
/// text; its end is `end_char` characters in (past the text for a block in a capture never
/// printed). Both edges within the text are character boundaries with matching character offsets.
fn check_rendered(rendered: &Rendered) {
    let text = &rendered.text;
    assert!(text.len() <= OUTPUT_BYTES, "output limit broken: {} bytes", text.len());
    let chars_at = |byte: usize| text.is_char_boundary(byte).then(|| text[..byte].chars().count());
    for span in &rendered.spans {
        assert!(span.start_byte <= span.end_byte && span.start_char <= span.end_char, "inverted span: {span:?}");
        assert_eq!(chars_at(span.start_byte), Some(span.start_char), "span start: {span:?}");
        if span.end_byte <= text.len() {
            assert_eq!(chars_at(span.end_byte), Some(span.end_char), "span end: {span:?}");
        } else {
            assert_eq!(
                span.end_byte - text.len(),
                span.end_char - text.chars().count(),
                "span end past the text: {span:?}"
            );
        }
    }
}

fn check_encoding(rendered: &Rendered, options: u8) {
    let tokenizers = tokenizers();
    let fast = tokenizers.fast.encode(&rendered.text, None);
    let reference = tokenizers.reference.encode(&rendered.text, None);
    match (&fast, &reference) {
        (Ok(fast), Ok(reference)) => {
            assert_eq!(fast.ids, reference.ids, "the fast BPE and tokenizers disagree on ids");
            assert_eq!(fast.offsets, reference.offsets, "the fast BPE and tokenizers disagree on offsets");
            assert!(fast.offsets.iter().all(|&(start, end)| start <= end && end <= rendered.text.len()));
            let spans: Vec<(usize, usize)> = rendered.spans.iter().map(|s| (s.start_byte, s.end_byte)).collect();
            let mask = assistant_mask(&fast.offsets, &spans);
            assert_eq!(mask.len(), fast.ids.len(), "mask and ids differ in length");
            for (&(start, end), _) in fast.offsets.iter().zip(&mask).filter(|(_, &bit)| bit == 1) {
                assert!(
                    spans.iter().any(|&(from, to)| end > from && start < to),
                    "token {start}..{end} masked outside every span"
                );
            }
            assert_eq!(mask, mask_in_characters(rendered, &fast.offsets), "byte and character masks differ");
        }
        (Err(err), _) | (_, Err(err)) => panic!("the rendered text does not tokenize: {err}"),
    }
    let encode_options = EncodeOptions {
        sanitize_control_tokens: options & 8 != 0,
        truncation: options & 16 != 0,
        max_length: (options & 16 != 0).then_some(MAX_LENGTH),
        truncation_side: if options & 32 != 0 { Side::Left } else { Side::Right },
        ..EncodeOptions::default()
    };
    let encoded = match encode_rendered(rendered, &tokenizers.fast, &encode_options) {
        Ok(encoded) => encoded,
        Err(err) => return check_error(&err),
    };
    let length = encoded.input_ids.len();
    assert_eq!(encoded.assistant_masks.len(), length, "mask and ids differ in length");
    assert_eq!(encoded.attention_mask.len(), length);
    assert_eq!(encoded.labels.len(), length);
    assert!(encoded.assistant_masks.iter().all(|&bit| bit <= 1));
    if encode_options.truncation {
        assert!(length <= MAX_LENGTH, "truncation kept {length} tokens");
    }
    if rendered.spans.is_empty() {
        assert!(encoded.assistant_masks.iter().all(|&bit| bit == 0), "a mask without spans");
    }
}

/// The mask as transformers computes it, over character offsets: the same rule, so the byte mask
/// equals it only while every span edge and token edge in the text is a character boundary.
fn mask_in_characters(rendered: &Rendered, byte_offsets: &[(usize, usize)]) -> Vec<u8> {
    let text = &rendered.text;
    let mut char_at = vec![usize::MAX; text.len() + 1];
    for (index, (byte, _)) in text.char_indices().chain([(text.len(), ' ')]).enumerate() {
        char_at[byte] = index;
    }
    let to_chars = |byte: usize| {
        let index = char_at[byte];
        assert_ne!(index, usize::MAX, "token edge {byte} inside a character");
        index
    };
    let offsets: Vec<(usize, usize)> =
        byte_offsets.iter().map(|&(start, end)| (to_chars(start), to_chars(end))).collect();
    let spans: Vec<(usize, usize)> = rendered.spans.iter().map(|s| (s.start_char, s.end_char)).collect();
    assistant_mask(&offsets, &spans)
}

/// A byte-level BPE over all 256 bytes with a few merges and ChatML's special tokens: a shape the
/// fast backend runs, so every input also checks it against `tokenizers`.
fn tokenizers() -> &'static Tokenizers {
    static TOKENIZERS: OnceLock<Tokenizers> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let json = tokenizer_json();
        let fast =
            Arc::new(Tokenizer::from_json(&json, Backend::Fast).expect("the fuzz tokenizer loads on the fast backend"));
        let reference = Tokenizer::from_json(&json, Backend::Tokenizers).expect("the fuzz tokenizer loads");
        Tokenizers { fast, reference }
    })
}

fn tokenizer_json() -> String {
    let alphabet: Vec<char> = (0..=255u8).map(byte_char).collect();
    let mut vocab: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    let mut merges = Vec::new();
    for pair in ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ċ Ċ", "< |", "| >", "a s", "as s", "ass i"] {
        let (left, right) = pair.split_once(' ').expect("a merge has two parts");
        merges.push(format!("[{},{}]", json_string(left), json_string(right)));
        vocab.push(format!("{left}{right}"));
    }
    let vocab: Vec<String> =
        vocab.iter().enumerate().map(|(id, token)| format!("{}:{id}", json_string(token))).collect();
    let added = |id: usize, content: &str, special: bool| {
        format!(
            r#"{{"id":{id},"content":{},"single_word":false,"lstrip":false,"rstrip":false,"normalized":{},"special":{special}}}"#,
            json_string(content),
            !special
        )
    };
    let first = vocab.len();
    format!(
        r#"{{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{},{},{}],"normalizer":null,
        "pre_tokenizer":{{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}},
        "post_processor":{{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}},"decoder":null,
        "model":{{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,
        "fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{{{}}},"merges":[{}]}}}}"#,
        added(first, "<|im_start|>", true),
        added(first + 1, "<|im_end|>", true),
        added(first + 2, "<think>", false),
        vocab.join(","),
        merges.join(",")
    )
}

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest for U+0100 on.
fn byte_char(byte: u8) -> char {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    if printable(byte) {
        return char::from(byte);
    }
    let shift = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(0x100 + shift).expect("below U+0200")
}

fn json_string(text: &str) -> String {
    let escaped: String = text.chars().map(|c| format!("\\u{:04x}", u32::from(c))).collect();
    format!("\"{escaped}\"")
}
