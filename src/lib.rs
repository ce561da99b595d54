//! fastmask: chat templates rendered with minijinja, tokenized with the `tokenizers` crate, and
//! assistant-token masks aligned exactly as transformers 5.24 computes them.

mod align;
#[cfg(feature = "arrow")]
pub mod arrow;
mod batch;
pub mod bpe;
mod encode;
mod environment;
mod error;
mod filters;
mod input;
mod limits;
mod matrix;
mod methods;
mod operators;
mod pyformat;
mod pyobjects;
mod python_format;
mod rewrite;
mod sanitize;
mod stack;
mod tag;
mod template;
mod tokenize;
mod turns;

pub use align::assistant_mask;
pub use batch::{
    encode_batch, encode_each, encode_produced, encode_texts, render_batch, EncodeContext, NUM_THREADS_ENV,
};
pub use encode::{encode_rendered, EncodeOptions, Encoded, PaddingStrategy, Side};
pub use error::{Error, ErrorKind, Result};
pub use input::{Conversation, RenderInputs, ToConversation};
pub use limits::Limits;
pub use matrix::{matrices, Matrices};
pub use environment::Clock;
pub use template::{ChatTemplate, Rendered, Span};
pub use tokenize::{Backend, TokenOffsets, Tokenizer, Truncation};
pub use turns::{MaskPlan, MaskSource, TurnOptions, TurnStart};

#[cfg(feature = "python")]
mod py;

/// mimalloc as the extension's allocator: conversations are converted on the calling thread and
/// their results freed there after worker threads built them, and a render allocates many small
/// values; under glibc's malloc, frees across threads and consolidation were a visible share of
/// a batch's serial part (about 30% of `encode_batch` time went with the switch).
#[cfg(feature = "python")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
