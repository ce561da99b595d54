//! The mask pipeline: a conversation becomes the template's context (`conversation`), is
//! rendered with its assistant spans (from generation blocks, or inferred turns: `turns`),
//! tokenized, truncated, aligned (`align`), labelled and padded (`encode`), for whole batches
//! in parallel by a `ChatEncoder` with one `CallOptions` value per call (`encoder`).

pub mod align;
pub mod conversation;
pub mod encode;
pub mod encoder;
pub mod expand;
mod markers;
mod sanitize;
pub mod turns;

pub use conversation::{Conversation, RenderInputs, ToConversation};
pub use encode::{EncodeOptions, Encoded, PaddingStrategy};
pub use encoder::{CallOptions, ChatEncoder, EncodedBatch, ErrorPolicy, Layout, TokenOptions, TokenizerDefaults};
pub use turns::{ChangedTurns, MaskPlan, MaskSource, TurnOptions, TurnStart};
