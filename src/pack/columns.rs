//! The token columns of a batch (one slice per row, borrowed from lists, Arrow buffers or
//! matrices) and the packed columns copied from them by a `Plan`.

use crate::error::{Error, Result};

/// An integer type a token column holds; packing copies values and never converts them.
pub trait Token: Copy + Default + PartialEq + Send + Sync + 'static {
    /// `value` in this type, when it has it (a pad id or `ignore_index`).
    fn from_i64(value: i64) -> Option<Self>;
}

macro_rules! tokens {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl Token for $ty {
            fn from_i64(value: i64) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }
        })*

        /// A column's rows, one slice each, in the column's own integer type.
        #[derive(Debug, Clone)]
        pub enum Rows<'a> { $($variant(Vec<&'a [$ty]>)),* }

        /// A packed column: the values of every bin end to end.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Values { $($variant(Vec<$ty>)),* }

        impl Rows<'_> {
            pub fn len(&self) -> usize {
                match self { $(Rows::$variant(rows) => rows.len()),* }
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            pub fn row_len(&self, row: usize) -> usize {
                match self { $(Rows::$variant(rows) => rows[row].len()),* }
            }

            /// Whether row `row` holds a value other than `skip` in its first `limit` tokens.
            pub fn has_other_than(&self, row: usize, skip: i64, limit: usize) -> bool {
                match self {
                    $(Rows::$variant(rows) => {
                        let skip = <$ty as Token>::from_i64(skip);
                        rows[row].iter().take(limit).any(|&value| Some(value) != skip)
                    })*
                }
            }

            /// This column's pieces copied bin by bin, each bin padded with `pad` to `padded_to` tokens.
            pub fn gather(&self, plan: &super::Plan, pad: i64, padded_to: Option<usize>) -> Result<Values> {
                Ok(match self {
                    $(Rows::$variant(rows) => Values::$variant(gather(rows, plan, fill(pad)?, padded_to))),*
                })
            }
        }

        impl Values {
            pub fn len(&self) -> usize {
                match self { $(Values::$variant(values) => values.len()),* }
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Sets the values at `positions` to `value`.
            pub fn set(&mut self, positions: &[usize], value: i64) -> Result<()> {
                match self {
                    $(Values::$variant(values) => {
                        let value = fill(value)?;
                        positions.iter().for_each(|&at| values[at] = value);
                    })*
                }
                Ok(())
            }

            /// How many values are not `skip`.
            pub fn count_other_than(&self, skip: i64) -> usize {
                match self {
                    $(Values::$variant(values) => {
                        let skip = <$ty as Token>::from_i64(skip);
                        values.iter().filter(|&&value| Some(value) != skip).count()
                    })*
                }
            }
        }
    };
}

tokens!(I8(i8), I16(i16), I32(i32), I64(i64), U8(u8), U16(u16), U32(u32), U64(u64));

/// `value` in the column's type; a value the type cannot hold is the caller's error.
fn fill<T: Token>(value: i64) -> Result<T> {
    T::from_i64(value).ok_or_else(|| {
        Error::input(format!("{value} does not fit the column's integer type ({})", std::any::type_name::<T>()))
    })
}

fn gather<T: Token>(rows: &[&[T]], plan: &super::Plan, pad: T, padded_to: Option<usize>) -> Vec<T> {
    let bins = plan.bins();
    let mut out = Vec::with_capacity(padded_to.map_or_else(|| plan.tokens(), |len| len * bins));
    for bin in 0..bins {
        for piece in plan.bin(bin) {
            out.extend_from_slice(&rows[piece.row][piece.start_token..piece.start_token + piece.len_tokens]);
        }
        if let Some(len) = padded_to {
            out.resize(len * (bin + 1), pad);
        }
    }
    out
}

/// The token columns of one call, by name, with equal row lengths; `lengths` from the first.
#[derive(Debug, Clone, Default)]
pub struct Columns<'a> {
    pub columns: Vec<(String, Rows<'a>)>,
}

impl<'a> Columns<'a> {
    /// Adds `rows` as column `name`, after checking it has the rows and row lengths of the first.
    pub fn push(&mut self, name: &str, rows: Rows<'a>) -> Result<()> {
        if let Some((first, reference)) = self.columns.first() {
            if rows.len() != reference.len() {
                return Err(Error::input(format!(
                    "column {name:?} has {} rows where {first:?} has {}",
                    rows.len(),
                    reference.len()
                )));
            }
            if let Some(row) = (0..rows.len()).find(|&row| rows.row_len(row) != reference.row_len(row)) {
                return Err(Error::input(format!(
                    "column {name:?}, row {row}: {} values where {first:?} has {}: every packed column needs one \
                     value per token",
                    rows.row_len(row),
                    reference.row_len(row)
                )));
            }
        }
        self.columns.push((name.to_string(), rows));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Rows<'a>> {
        self.columns.iter().find(|(column, _)| column == name).map(|(_, rows)| rows)
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, rows)| rows.len())
    }

    pub fn lengths(&self) -> Vec<usize> {
        self.columns.first().map_or_else(Vec::new, |(_, rows)| (0..rows.len()).map(|row| rows.row_len(row)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{plan, PackOptions, Strategy};
    use super::*;

    #[test]
    fn gather_copies_pieces_and_pads() {
        let ids: [&[i32]; 3] = [&[1, 2, 3, 4, 5], &[6, 7], &[8, 9, 10]];
        let rows = Rows::I32(ids.to_vec());
        let plan = plan(&[5, 2, 3], &[0, 1, 2], &PackOptions::new(4, Strategy::BfdSplit)).expect("plan");
        assert_eq!(rows.gather(&plan, 0, None).expect("fits"), Values::I32(vec![1, 2, 3, 4, 8, 9, 10, 5, 6, 7]));
        let padded = rows.gather(&plan, -1, Some(4)).expect("fits");
        assert_eq!(padded, Values::I32(vec![1, 2, 3, 4, 8, 9, 10, 5, 6, 7, -1, -1]));
        assert!(Rows::U8(vec![&[1u8]]).gather(&plan, -100, Some(4)).is_err());
    }

    #[test]
    fn ragged_columns_are_refused() {
        let mut columns = Columns::default();
        columns.push("input_ids", Rows::I64(vec![&[1, 2], &[3]])).expect("first");
        let err = columns.push("labels", Rows::I64(vec![&[1, 2], &[3, 4]])).unwrap_err();
        assert!(err.message.contains("column \"labels\", row 1: 2 values"), "{}", err.message);
        assert!(columns.push("labels", Rows::I64(vec![&[1, 2]])).is_err());
    }
}
