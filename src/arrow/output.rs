//! The outputs of a batch as Arrow arrays, built without the interpreter: `list<int32>` ids,
//! `list<int8>` masks, `list<int64>` labels (sharing one offsets buffer) and the `int64`
//! truncated-token counts.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, Int8Array, ListArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use crate::error::{Error, Result};
use crate::mask::Encoded;

/// The names and arrays of a batch's outputs: `input_ids` (`list<int32>`), `attention_mask` and
/// `assistant_masks` (`list<int8>`), `labels` (`list<int64>`), `truncated_tokens` (`int64`).
pub fn output_arrays(batch: &[Encoded]) -> Result<Vec<(&'static str, ArrayRef)>> {
    let offsets = row_offsets(batch)?;
    let ids = batch.iter().flat_map(|e| e.input_ids.iter().map(|&id| id as i32)).collect::<Vec<i32>>();
    let attention = batch.iter().flat_map(|e| e.attention_mask.iter().map(|&v| v as i8)).collect::<Vec<i8>>();
    let masks = batch.iter().flat_map(|e| e.assistant_masks.iter().map(|&v| v as i8)).collect::<Vec<i8>>();
    let labels = batch.iter().flat_map(|e| e.labels.iter().copied()).collect::<Vec<i64>>();
    let truncated = batch.iter().map(|e| e.truncated_tokens as i64).collect::<Vec<i64>>();
    Ok(vec![
        ("input_ids", list_array(&offsets, Arc::new(Int32Array::from(ids)))),
        ("attention_mask", list_array(&offsets, Arc::new(Int8Array::from(attention)))),
        ("assistant_masks", list_array(&offsets, Arc::new(Int8Array::from(masks)))),
        ("labels", list_array(&offsets, Arc::new(Int64Array::from(labels)))),
        ("truncated_tokens", Arc::new(Int64Array::from(truncated))),
    ])
}

/// A `list<item>` array over shared offsets; the item field is nullable and named `item`, as
/// pyarrow's own list type, so tables built from several batches share one schema.
fn list_array(offsets: &OffsetBuffer<i32>, values: ArrayRef) -> ArrayRef {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    Arc::new(ListArray::new(field, offsets.clone(), values, None))
}

/// Arrow's `list` offsets: `rows + 1` int32 values, starting at 0.
fn row_offsets(batch: &[Encoded]) -> Result<OffsetBuffer<i32>> {
    let mut offsets = Vec::with_capacity(batch.len() + 1);
    let mut end: usize = 0;
    offsets.push(0i32);
    for encoded in batch {
        end += encoded.input_ids.len();
        let offset = i32::try_from(end)
            .map_err(|_| Error::input("more than 2**31 tokens in one batch: encode it in smaller chunks"))?;
        offsets.push(offset);
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use super::*;

    #[test]
    fn outputs_share_offsets() {
        let encoded = Encoded {
            input_ids: vec![1, 2],
            attention_mask: vec![1, 1],
            assistant_masks: vec![0, 1],
            labels: vec![-100, 2],
            truncated_tokens: 3,
        };
        let arrays = output_arrays(&[encoded.clone(), Encoded::default(), encoded]).expect("fits");
        let ids = arrays[0].1.as_list::<i32>();
        assert_eq!(ids.value_offsets(), &[0, 2, 2, 4]);
        assert_eq!(arrays[4].1.as_primitive::<Int64Type>().values().as_ref(), &[3, 0, 3]);
    }
}
