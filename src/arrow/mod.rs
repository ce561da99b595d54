//! Columnar data in and out of the core, without the interpreter: conversations read from Arrow
//! columns (`input`), a batch's outputs as Arrow list arrays (`output`) or as padded int64
//! matrices for numpy (`matrix`); packing's token columns in and out (`pack`).

#[cfg(feature = "arrow")]
pub mod input;
pub mod matrix;
#[cfg(feature = "arrow")]
pub mod output;
#[cfg(feature = "arrow")]
pub mod pack;
