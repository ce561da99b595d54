//! `_core.pack`: encoded rows packed into bins by `crate::pack`. Token columns come as Python
//! lists of lists or as Arrow list arrays (read without a copy); the Python layer
//! (`fastmask/_pack.py`) picks them, carries the other columns and wraps the results.

use arrow_array::ArrayRef;
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::Borrowed;

use super::arrow_in::arrow_chunks;
use super::arrow_out::array_to_py;
use super::options::{repr, text, OptionError};
use crate::arrow::pack::{is_token_column, packed_arrays, rows_of};
use crate::error::catch_panic;
use crate::pack::{Columns, PackOptions, PackRequest, PackStats, Packed, Rows, Strategy, Values};
use crate::Error;

const STRATEGIES: [(&str, Strategy); 3] =
    [("bfd", Strategy::Bfd), ("bfd_split", Strategy::BfdSplit), ("wrapped", Strategy::Wrapped)];

/// `"bfd"`, `"bfd_split"` or `"wrapped"`.
impl<'a, 'py> FromPyObject<'a, 'py> for Strategy {
    type Error = OptionError;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> Result<Self, OptionError> {
        let name = text(&value);
        STRATEGIES
            .iter()
            .find(|(key, _)| Some(*key) == name.as_deref())
            .map(|&(_, strategy)| strategy)
            .ok_or_else(|| OptionError::Invalid { expected: "'bfd', 'bfd_split' or 'wrapped'", got: repr(&value) })
    }
}

/// The name of a strategy, as `fastmask.pack` takes it.
pub fn strategy_name(strategy: Strategy) -> &'static str {
    STRATEGIES.iter().find(|(_, s)| *s == strategy).map_or("", |&(name, _)| name)
}

/// The keywords of `fastmask.pack`, checked there, as one dict.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct PackKeywords {
    strategy: Strategy,
    batch_size: Option<usize>,
    truncate: bool,
    padding: bool,
    pad_token_id: Option<i64>,
    ignore_index: i64,
    ignore_first_label: bool,
    drop_untrained: bool,
    order: Option<Vec<usize>>,
    return_position_ids: bool,
    return_cu_seqlens: bool,
    return_segment_ids: bool,
    num_threads: Option<usize>,
}

impl PackKeywords {
    fn request(self, seq_length: usize) -> PackRequest {
        let options = PackOptions {
            seq_length,
            strategy: self.strategy,
            batch_rows: self.batch_size,
            truncate: self.truncate,
            padding: self.padding,
        };
        PackRequest {
            options,
            pad_token_id: self.pad_token_id,
            ignore_index: self.ignore_index,
            ignore_first_label: self.ignore_first_label,
            drop_untrained: self.drop_untrained,
            order: self.order,
            return_position_ids: self.return_position_ids,
            return_cu_seqlens: self.return_cu_seqlens,
            return_segment_ids: self.return_segment_ids,
            threads: self.num_threads,
        }
    }
}

/// A token column as given: Arrow chunks (and whether they are `large_list`), or a list of lists
/// of ints copied out as one run of values with each row's end.
enum Given {
    Arrow(Vec<ArrayRef>),
    Lists(Vec<i64>, Vec<usize>),
}

/// Packs the token columns `columns` (`{name: list of lists | Arrow list array}`, all of one
/// kind, `input_ids` first) into bins of `seq_length` tokens. Returns the packed columns in the
/// kind given, `piece_rows` (per bin, the input row of each piece) and `stats`.
#[pyfunction]
pub fn pack<'py>(
    columns: &Bound<'py, PyDict>,
    seq_length: usize,
    options: PackKeywords,
) -> PyResult<Bound<'py, PyDict>> {
    let py = columns.py();
    let mut given = Vec::with_capacity(columns.len());
    for (name, column) in columns.iter() {
        let name: String = name.extract()?;
        let column = match arrow_chunks(&column, &format!("column {name:?}"))? {
            Some(chunks) => Given::Arrow(token_chunks(&name, chunks)?),
            None => {
                let (values, ends) = flat_rows(&name, &column)?;
                Given::Lists(values, ends)
            }
        };
        given.push((name, column));
    }
    let arrow = given.iter().any(|(_, column)| matches!(column, Given::Arrow(_)));
    if arrow && given.iter().any(|(_, column)| matches!(column, Given::Lists(..))) {
        return Err(Error::input("pack the columns all as Arrow arrays or all as lists, not some of each").into());
    }
    let mut table = Columns::default();
    let mut large = Vec::new();
    for (name, column) in &given {
        let rows = match column {
            Given::Arrow(chunks) => {
                if chunks.first().is_some_and(|chunk| matches!(chunk.data_type(), DataType::LargeList(_))) {
                    large.push(name.clone());
                }
                rows_of(name, chunks)?
            }
            Given::Lists(values, ends) => {
                Rows::I64(std::iter::once(&0).chain(ends).zip(ends).map(|(&start, &end)| &values[start..end]).collect())
            }
        };
        table.push(name, rows)?;
    }
    let request = options.request(seq_length);
    let packed = py.detach(|| catch_panic(|| crate::pack::pack(&table, &request)))?;
    let out = PyDict::new(py);
    out.set_item("stats", stats_to_py(py, &packed.stats)?)?;
    if arrow {
        for (name, array) in py.detach(|| catch_panic(|| packed_arrays(packed, &large)))? {
            out.set_item(name, array_to_py(py, array)?)?;
        }
    } else {
        lists_to_py(&out, packed)?;
    }
    Ok(out)
}

/// The chunks of an Arrow token column, or the error naming the column.
fn token_chunks(name: &str, chunks: Vec<ArrayRef>) -> PyResult<Vec<ArrayRef>> {
    match chunks.iter().find(|chunk| !is_token_column(chunk.data_type())) {
        Some(chunk) => Err(Error::input(format!(
            "column {name:?}: packing needs a list of integers per row, got Arrow {}",
            chunk.data_type()
        ))
        .into()),
        None => Ok(chunks),
    }
}

/// A Python list of lists of ints as one run of values and the end of each row (None is empty).
fn flat_rows(name: &str, column: &Bound<'_, PyAny>) -> PyResult<(Vec<i64>, Vec<usize>)> {
    let (mut values, mut ends) = (Vec::new(), Vec::new());
    for (index, row) in column.try_iter()?.enumerate() {
        let row = row?;
        if !row.is_none() {
            let items = row.try_iter().map_err(|_| not_a_row(name, index, &row))?;
            for item in items {
                values.push(item?.extract::<i64>().map_err(|_| not_a_row(name, index, &row))?);
            }
        }
        ends.push(values.len());
    }
    Ok((values, ends))
}

fn not_a_row(name: &str, index: usize, row: &Bound<'_, PyAny>) -> PyErr {
    let got = row.get_type().name().map(|name| name.to_string()).unwrap_or_default();
    Error::input(format!("column {name:?}, row {index}: packing needs a list of ints per row, got {got}")).into()
}

fn stats_to_py<'py>(py: Python<'py>, stats: &PackStats) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("rows", stats.rows)?;
    out.set_item("empty_rows", stats.empty_rows)?;
    out.set_item("untrained_rows", stats.untrained_rows)?;
    out.set_item("sequences", stats.sequences)?;
    out.set_item("bins", stats.bins)?;
    out.set_item("tokens", stats.tokens)?;
    out.set_item("truncated_tokens", stats.truncated_tokens)?;
    out.set_item("trained_tokens", stats.trained_tokens)?;
    out.set_item("capacity_tokens", stats.capacity_tokens)?;
    Ok(out)
}

/// The packed columns as lists of lists, one list per bin.
fn lists_to_py(out: &Bound<'_, PyDict>, packed: Packed) -> PyResult<()> {
    let bins = &packed.bin_offsets;
    for (name, values) in &packed.columns {
        let lists = match values {
            Values::I8(v) => bin_lists(out.py(), v, bins),
            Values::I16(v) => bin_lists(out.py(), v, bins),
            Values::I32(v) => bin_lists(out.py(), v, bins),
            Values::I64(v) => bin_lists(out.py(), v, bins),
            Values::U8(v) => bin_lists(out.py(), v, bins),
            Values::U16(v) => bin_lists(out.py(), v, bins),
            Values::U32(v) => bin_lists(out.py(), v, bins),
            Values::U64(v) => bin_lists(out.py(), v, bins),
        }?;
        out.set_item(name, lists)?;
    }
    for (name, values) in [("position_ids", &packed.position_ids), ("segment_ids", &packed.segment_ids)] {
        if let Some(values) = values {
            out.set_item(name, bin_lists(out.py(), values, bins)?)?;
        }
    }
    for (name, ragged) in [("seq_lengths", &packed.seq_lengths), ("cu_seqlens", &packed.cu_seqlens)] {
        if let Some(ragged) = ragged {
            out.set_item(name, bin_lists(out.py(), &ragged.values, &ragged.offsets)?)?;
        }
    }
    out.set_item("piece_rows", bin_lists(out.py(), &packed.piece_rows.values, &packed.piece_rows.offsets)?)?;
    Ok(())
}

fn bin_lists<'py, T>(py: Python<'py>, values: &[T], offsets: &[usize]) -> PyResult<Bound<'py, PyList>>
where
    T: Copy + IntoPyObject<'py>,
{
    let bins = offsets.windows(2).map(|bin| PyList::new(py, values[bin[0]..bin[1]].iter().copied()));
    PyList::new(py, bins.collect::<PyResult<Vec<_>>>()?)
}
