//! The array layout of a batch: its four outputs (ids, attention mask, assistant mask, labels) as
//! row-major int64 matrices of one shape, padded while they are filled, and filled row-parallel
//! on the batch pool.
//!
//! With padding to the longest row, these matrices are several times the size of the tokens
//! (hundreds of MB for a few thousand conversations), so they are written once, in parallel,
//! rather than padded row by row and then copied on the calling thread (BENCHMARKS.md).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mask::encode::{check_padded_size, padded_length, EncodeOptions, Encoded};
use crate::runtime::pool::{self, Threads};
use crate::tokenizer::Side;

/// Rows per parallel task: enough that a task outweighs its scheduling.
const ROWS_PER_TASK: usize = 16;

/// Four matrices of `rows` x `columns` values.
#[derive(Debug, PartialEq, Eq)]
pub struct Matrices {
    pub rows: usize,
    pub columns: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub assistant_masks: Vec<i64>,
    pub labels: Vec<i64>,
}

/// The batch's outputs as matrices, padded as `options` asks (rows may be unpadded or already
/// padded); sequences that padding leaves at different lengths cannot form one.
pub fn matrices(batch: &[Encoded], options: &EncodeOptions, threads: Threads) -> Result<Matrices> {
    options.validate()?;
    let target = padded_length(batch, options);
    let columns = target.unwrap_or_else(|| batch.first().map_or(0, |e| e.input_ids.len()));
    let fits = |len: usize| {
        if target.is_some() {
            len <= columns
        } else {
            len == columns
        }
    };
    if !batch.iter().all(|e| fits(e.input_ids.len())) {
        return Err(Error::input(
            "sequences have different lengths, so they cannot form one array: pass padding=True or padding='max_length'",
        ));
    }
    check_padded_size(batch.len(), columns)?;
    let size = batch.len().checked_mul(columns).ok_or_else(|| too_large(batch.len(), columns))?;
    let mut values: [Vec<i64>; 4] = Default::default();
    for matrix in &mut values {
        matrix.try_reserve_exact(size).map_err(|_| too_large(batch.len(), columns))?;
    }
    if size > 0 {
        let fills = [i64::from(options.pad_id.unwrap_or(0)), 0, 0, options.ignore_index];
        let side = options.padding_side;
        let task_cells = columns * ROWS_PER_TASK;
        let [ids, attention, assistant, labels] = values.each_mut().map(|m| &mut m.spare_capacity_mut()[..size]);
        pool::install(threads, || {
            ids.par_chunks_mut(task_cells)
                .zip(attention.par_chunks_mut(task_cells))
                .zip(assistant.par_chunks_mut(task_cells))
                .zip(labels.par_chunks_mut(task_cells))
                .zip(batch.par_chunks(ROWS_PER_TASK))
                .for_each(|((((ids, attention), assistant), labels), rows)| {
                    for (k, encoded) in rows.iter().enumerate() {
                        let cells = k * columns..(k + 1) * columns;
                        write_row(&mut ids[cells.clone()], &encoded.input_ids, fills[0], side);
                        write_row(&mut attention[cells.clone()], &encoded.attention_mask, fills[1], side);
                        write_row(&mut assistant[cells.clone()], &encoded.assistant_masks, fills[2], side);
                        write_row(&mut labels[cells], &encoded.labels, fills[3], side);
                    }
                });
        })?;
        for matrix in &mut values {
            // SAFETY: the capacity is at least `size`, and all `size` cells were written: the
            // tasks' chunks cover `batch.len()` rows of `columns` cells, and `write_row` writes
            // every cell of a row (values, then padding). `install` returning means every task ran.
            unsafe { matrix.set_len(size) };
        }
    }
    let [input_ids, attention_mask, assistant_masks, labels] = values;
    Ok(Matrices { rows: batch.len(), columns, input_ids, attention_mask, assistant_masks, labels })
}

/// Writes `values` and `fill` for the rest of `cells`, on the padding side.
fn write_row<T: Copy + Into<i64>>(cells: &mut [MaybeUninit<i64>], values: &[T], fill: i64, side: Side) {
    let missing = cells.len() - values.len();
    let (value_cells, pad_cells) = match side {
        Side::Right => {
            let (values, pad) = cells.split_at_mut(values.len());
            (values, pad)
        }
        Side::Left => {
            let (pad, values) = cells.split_at_mut(missing);
            (values, pad)
        }
    };
    for (cell, &value) in value_cells.iter_mut().zip(values) {
        cell.write(value.into());
    }
    pad_cells.fill(MaybeUninit::new(fill));
}

fn too_large(rows: usize, columns: usize) -> Error {
    Error::limit(format!("{rows} rows padded to {columns} columns are too large to allocate as arrays"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::encode::{pad_batch, test_row, PaddingStrategy};

    fn encoded(ids: &[u32], mask: &[u8]) -> Encoded {
        test_row(ids, mask, -7)
    }

    /// The rows `pad_batch` pads, flattened: what the matrices must hold.
    fn padded_then_flattened(batch: &[Encoded], options: &EncodeOptions) -> Matrices {
        let mut padded = batch.to_vec();
        pad_batch(&mut padded, options).unwrap();
        let flat = |f: fn(&Encoded) -> Vec<i64>| padded.iter().flat_map(f).collect::<Vec<i64>>();
        Matrices {
            rows: padded.len(),
            columns: padded.first().map_or(0, |e| e.input_ids.len()),
            input_ids: flat(|e| e.input_ids.iter().map(|&v| i64::from(v)).collect()),
            attention_mask: flat(|e| e.attention_mask.iter().map(|&v| i64::from(v)).collect()),
            assistant_masks: flat(|e| e.assistant_masks.iter().map(|&v| i64::from(v)).collect()),
            labels: flat(|e| e.labels.clone()),
        }
    }

    fn options(padding: PaddingStrategy, side: Side, max_length: Option<usize>) -> EncodeOptions {
        EncodeOptions {
            padding,
            padding_side: side,
            max_length,
            pad_id: Some(99),
            ignore_index: -7,
            ..EncodeOptions::default()
        }
    }

    #[test]
    fn padding_while_filling_equals_padding_rows_first() {
        // More rows than one task holds, of many lengths, including empty ones.
        let batch: Vec<Encoded> = (0..50u32)
            .map(|n| {
                let ids: Vec<u32> = (0..n % 13).map(|i| i * 3 + n).collect();
                let mask: Vec<u8> = ids.iter().map(|&i| (i % 2) as u8).collect();
                encoded(&ids, &mask)
            })
            .collect();
        for side in [Side::Left, Side::Right] {
            for (padding, max_length) in [(PaddingStrategy::Longest, None), (PaddingStrategy::MaxLength, Some(20))] {
                let options = options(padding, side, max_length);
                for threads in [Some(1), Some(3)] {
                    assert_eq!(matrices(&batch, &options, threads).unwrap(), padded_then_flattened(&batch, &options));
                }
                // Rows padded before (the on_error path) come out the same.
                let mut padded = batch.clone();
                pad_batch(&mut padded, &options).unwrap();
                assert_eq!(matrices(&padded, &options, Some(2)).unwrap(), padded_then_flattened(&batch, &options));
            }
        }
    }

    #[test]
    fn rows_of_different_lengths_need_padding() {
        let batch = [encoded(&[1, 2], &[0, 1]), encoded(&[3], &[1])];
        let err = matrices(&batch, &EncodeOptions::default(), Some(2)).unwrap_err();
        assert!(err.message.contains("different lengths"), "{err:?}");
        // A row longer than max_length (no truncation) stays longer, as in transformers.
        let err = matrices(&batch, &options(PaddingStrategy::MaxLength, Side::Right, Some(1)), Some(2)).unwrap_err();
        assert!(err.message.contains("different lengths"), "{err:?}");
        let same = [encoded(&[1, 2], &[0, 1]), encoded(&[3, 4], &[1, 1])];
        let m = matrices(&same, &EncodeOptions::default(), Some(2)).unwrap();
        assert_eq!((m.rows, m.columns, m.labels), (2, 2, vec![-7, 2, 3, 4]));
    }

    #[test]
    fn empty_batches_and_empty_rows_make_empty_matrices() {
        let none = matrices(&[], &options(PaddingStrategy::Longest, Side::Right, None), Some(2)).unwrap();
        assert_eq!((none.rows, none.columns, none.input_ids.len()), (0, 0, 0));
        let empty_rows = matrices(&[encoded(&[], &[]), encoded(&[], &[])], &EncodeOptions::default(), Some(2)).unwrap();
        assert_eq!((empty_rows.rows, empty_rows.columns, empty_rows.input_ids.len()), (2, 0, 0));
    }

    #[test]
    fn a_padded_size_beyond_memory_is_an_error_not_an_abort() {
        // The second size an allocator may hand out as address space, which filling would
        // exhaust (16 TB).
        for max_length in [usize::MAX / 4, 1_000_000_000_000] {
            let options = options(PaddingStrategy::MaxLength, Side::Right, Some(max_length));
            let batch = [encoded(&[1], &[1]), encoded(&[2], &[0])];
            let err = matrices(&batch, &options, Some(2)).unwrap_err();
            assert!(err.message.contains("more than this machine's"), "{err:?}");
        }
    }
}
