//! Packing over Arrow: token columns read from `list`/`large_list` arrays of integers without a
//! copy (one slice per row of the Arrow buffers), and the packed columns as Arrow list arrays
//! built on the packed buffers, also without a copy.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, GenericListArray, Int32Array, Int64Array, OffsetSizeTrait, PrimitiveArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};

use crate::error::{Error, Result};
use crate::pack::{Packed, Ragged, Rows, Values};

/// Whether Arrow data of this type is a token column: a list or large list of integers.
pub fn is_token_column(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(field) | DataType::LargeList(field) => field.data_type().is_integer(),
        _ => false,
    }
}

/// The rows of a token column given as `chunks` (one type, as a chunked array has); a null row is empty.
pub fn rows_of<'a>(name: &str, chunks: &'a [ArrayRef]) -> Result<Rows<'a>> {
    let item = match chunks.first().map(|chunk| chunk.data_type()) {
        Some(DataType::List(field) | DataType::LargeList(field)) => field.data_type().clone(),
        Some(other) => return Err(Error::input(format!("column {name:?}: a list of integers is needed, got {other}"))),
        None => DataType::Int64,
    };
    Ok(match item {
        DataType::Int8 => Rows::I8(slices::<Int8Type>(chunks)),
        DataType::Int16 => Rows::I16(slices::<Int16Type>(chunks)),
        DataType::Int32 => Rows::I32(slices::<Int32Type>(chunks)),
        DataType::Int64 => Rows::I64(slices::<Int64Type>(chunks)),
        DataType::UInt8 => Rows::U8(slices::<UInt8Type>(chunks)),
        DataType::UInt16 => Rows::U16(slices::<UInt16Type>(chunks)),
        DataType::UInt32 => Rows::U32(slices::<UInt32Type>(chunks)),
        DataType::UInt64 => Rows::U64(slices::<UInt64Type>(chunks)),
        other => return Err(Error::input(format!("column {name:?}: a list of integers is needed, got list<{other}>"))),
    })
}

fn slices<T: ArrowPrimitiveType>(chunks: &[ArrayRef]) -> Vec<&[T::Native]> {
    let mut rows = Vec::with_capacity(chunks.iter().map(|chunk| chunk.len()).sum());
    for chunk in chunks {
        match chunk.data_type() {
            DataType::LargeList(_) => push_rows::<i64, T>(chunk.as_list::<i64>(), &mut rows),
            _ => push_rows::<i32, T>(chunk.as_list::<i32>(), &mut rows),
        }
    }
    rows
}

fn push_rows<'a, O: OffsetSizeTrait, T: ArrowPrimitiveType>(
    list: &'a GenericListArray<O>,
    rows: &mut Vec<&'a [T::Native]>,
) {
    let values: &'a [T::Native] = list.values().as_primitive::<T>().values();
    let offsets = list.value_offsets();
    for row in 0..list.len() {
        let slice = &values[offsets[row].as_usize()..offsets[row + 1].as_usize()];
        rows.push(if list.is_null(row) { &[] } else { slice });
    }
}

/// The packed batch as named arrays: each token column (a `large_list` where `large` names it,
/// as its input was), `position_ids` and `segment_ids` (`list<int32>` over the same bins),
/// `seq_lengths` and `cu_seqlens` (`list<int32>`), and `piece_rows` (`list<int64>`: per bin,
/// the input row of each piece, for the columns that are not token lists).
pub fn packed_arrays(packed: Packed, large: &[String]) -> Result<Vec<(String, ArrayRef)>> {
    let bins = &packed.bin_offsets;
    let mut out = Vec::new();
    for (name, values) in packed.columns {
        let array = list_of(bins, values_array(values), large.contains(&name))?;
        out.push((name, array));
    }
    for (name, values) in [("position_ids", packed.position_ids), ("segment_ids", packed.segment_ids)] {
        if let Some(values) = values {
            out.push((name.to_string(), list_of(bins, Arc::new(Int32Array::from(values)), false)?));
        }
    }
    for (name, ragged) in [("seq_lengths", packed.seq_lengths), ("cu_seqlens", packed.cu_seqlens)] {
        if let Some(Ragged { values, offsets }) = ragged {
            out.push((name.to_string(), list_of(&offsets, Arc::new(Int32Array::from(values)), false)?));
        }
    }
    let Ragged { values, offsets } = packed.piece_rows;
    let rows = Int64Array::from(values.into_iter().map(|row| row as i64).collect::<Vec<_>>());
    out.push(("piece_rows".to_string(), list_of(&offsets, Arc::new(rows), false)?));
    Ok(out)
}

fn values_array(values: Values) -> ArrayRef {
    fn array<T: ArrowPrimitiveType>(values: Vec<T::Native>) -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), None))
    }
    match values {
        Values::I8(v) => array::<Int8Type>(v),
        Values::I16(v) => array::<Int16Type>(v),
        Values::I32(v) => array::<Int32Type>(v),
        Values::I64(v) => array::<Int64Type>(v),
        Values::U8(v) => array::<UInt8Type>(v),
        Values::U16(v) => array::<UInt16Type>(v),
        Values::U32(v) => array::<UInt32Type>(v),
        Values::U64(v) => array::<UInt64Type>(v),
    }
}

/// A list array of `values` cut at `offsets`, with pyarrow's item field (nullable, `item`).
fn list_of(offsets: &[usize], values: ArrayRef, large: bool) -> Result<ArrayRef> {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    if large {
        let offsets = offsets.iter().map(|&at| at as i64).collect::<Vec<_>>();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        return Ok(Arc::new(GenericListArray::<i64>::new(field, offsets, values, None)));
    }
    let offsets = offsets
        .iter()
        .map(|&at| i32::try_from(at))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::input("more than 2**31 packed values in one call: pack in smaller windows"))?;
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(GenericListArray::<i32>::new(field, offsets, values, None)))
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int32Type;
    use arrow_array::ListArray;

    use super::*;
    use crate::pack::{pack, Columns, PackOptions, PackRequest, Strategy};

    #[test]
    fn arrow_rows_pack_into_arrow_lists() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2), Some(3)]),
            None,
            Some(vec![Some(4)]),
        ]);
        let chunks: Vec<ArrayRef> = vec![Arc::new(list.slice(0, 3))];
        let mut columns = Columns::default();
        columns.push("input_ids", rows_of("input_ids", &chunks).expect("reads")).expect("first");
        let packed = pack(&columns, &PackRequest::new(PackOptions::new(4, Strategy::Bfd))).expect("packs");
        let arrays = packed_arrays(packed, &[]).expect("builds");
        let ids = arrays[0].1.as_list::<i32>();
        assert_eq!(ids.value_offsets(), &[0, 4]);
        assert_eq!(ids.values().as_primitive::<Int32Type>().values().as_ref(), &[1, 2, 3, 4]);
        assert_eq!(arrays.last().map(|(name, _)| name.as_str()), Some("piece_rows"));
        assert!(is_token_column(chunks[0].data_type()));
    }
}
