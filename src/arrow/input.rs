//! A column of conversations (`list<struct<role, content, ...>>` and the other list layouts)
//! read straight into template values, one conversation at a time, so the reading runs inside the
//! parallel per-conversation work. The values are exactly those the Python-object path builds from
//! pyarrow's `to_pylist()`, which is what `datasets` users pass today: a struct is a dict with all
//! of its fields in schema order, a null is `None` (so a null message field is dropped like a
//! `None` one), binary is the `"<bytes>"` placeholder, and limits are charged the same way
//! (text and field names against `input_bytes`, containers against `input_depth`).

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowDictionaryKeyType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, OffsetSizeTrait};
use arrow_schema::DataType;
use minijinja::value::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::mask::conversation::Conversation;
use crate::runtime::pool::{self, Threads};

/// A column of conversations in one or more chunks (a chunked array or a stream of batches).
pub struct ArrowConversations {
    chunks: Vec<ArrayRef>,
    /// The first row of each chunk in the whole column, for rows numbered across chunks.
    starts: Vec<usize>,
    rows: usize,
}

impl ArrowConversations {
    /// The column, or `None` when `data_type` is not one this module reads (the caller then falls
    /// back to Python objects). Every chunk must be of `data_type`.
    pub fn new(data_type: &DataType, chunks: Vec<ArrayRef>) -> Option<Self> {
        if !Self::reads(data_type) || chunks.iter().any(|chunk| chunk.data_type() != data_type) {
            return None;
        }
        let mut starts = Vec::with_capacity(chunks.len());
        let mut rows = 0;
        for chunk in &chunks {
            starts.push(rows);
            rows += chunk.len();
        }
        Some(ArrowConversations { chunks, starts, rows })
    }

    /// Whether a column of `data_type` is read here; checked before importing any data.
    pub fn reads(data_type: &DataType) -> bool {
        is_list(data_type) && readable(data_type)
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Every conversation read on the batch pool, one result per row, each error naming its row.
    pub fn read_each(&self, limits: &Limits, threads: Threads) -> Result<Vec<Result<Conversation>>> {
        let rows: Vec<usize> = (0..self.rows).collect();
        pool::run_each(&rows, threads, |&row| self.conversation(row, limits))
    }

    /// Every conversation, or the error of the first row that cannot be read.
    pub fn read_all(&self, limits: &Limits, threads: Threads) -> Result<Vec<Conversation>> {
        self.read_each(limits, threads)?.into_iter().collect()
    }

    /// Row `row` of the whole column as a conversation.
    pub fn conversation(&self, row: usize, limits: &Limits) -> Result<Conversation> {
        let chunk_index = self.starts.partition_point(|&start| start <= row).saturating_sub(1);
        let chunk = self.chunks.get(chunk_index).ok_or_else(|| Error::input(format!("row {row} is out of range")))?;
        let local = row - self.starts[chunk_index];
        if chunk.is_null(local) {
            return Err(Error::input("a conversation must be a list of messages, got NoneType"));
        }
        let (messages, range) = list_items(chunk.as_ref(), local)?;
        // One budget for the whole conversation: its text, however it is split into messages.
        let mut read = Read { limits, bytes_left: limits.input_bytes };
        let messages = range
            .enumerate()
            .map(|(index, item)| read.value(messages, item, 0).map_err(|err| err.in_message(index)))
            .collect::<Result<Vec<Value>>>()?;
        Ok(Conversation { messages })
    }
}

fn is_list(data_type: &DataType) -> bool {
    matches!(data_type, DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::LargeListView(_))
}

/// Whether every value of `data_type` converts here exactly as through `to_pylist()`. Types whose
/// Python values are not plain JSON types (dates, decimals, float16, maps, unions) are left to the
/// Python-object path, which gives them its `"<TypeName>"` placeholders. So are fixed-size lists:
/// arrow-rs 59 panics making an array of an imported sliced fixed-size list of structs.
fn readable(data_type: &DataType) -> bool {
    use DataType::*;
    match data_type {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64 => true,
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => true,
        List(item) | LargeList(item) | ListView(item) | LargeListView(item) => readable(item.data_type()),
        Struct(fields) => fields.iter().all(|field| readable(field.data_type())),
        Dictionary(key, value) => key.is_dictionary_key_type() && readable(value),
        _ => false,
    }
}

/// One conversation's reading: the limits and the text budget left.
struct Read<'a> {
    limits: &'a Limits,
    bytes_left: usize,
}

impl Read<'_> {
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.bytes_left = self
            .bytes_left
            .checked_sub(bytes)
            .ok_or_else(|| Error::limit(format!("input limit: more than {} bytes of text", self.limits.input_bytes)))?;
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<Value> {
        self.charge(text.len())?;
        Ok(Value::from(text))
    }

    /// The value at `row` of `array`; `depth` counts the containers around it within the message.
    fn value(&mut self, array: &dyn Array, row: usize, depth: usize) -> Result<Value> {
        use DataType::*;
        if array.data_type() == &Null || array.is_null(row) {
            return Ok(Value::from(()));
        }
        match array.data_type() {
            Boolean => Ok(Value::from(downcast(array.as_boolean_opt())?.value(row))),
            Int8 => int::<Int8Type>(array, row),
            Int16 => int::<Int16Type>(array, row),
            Int32 => int::<Int32Type>(array, row),
            Int64 => int::<Int64Type>(array, row),
            UInt8 => int::<UInt8Type>(array, row),
            UInt16 => int::<UInt16Type>(array, row),
            UInt32 => int::<UInt32Type>(array, row),
            UInt64 => {
                let value = downcast(array.as_primitive_opt::<UInt64Type>())?.value(row);
                // Python ints past i64 arrive as i128, as in the object path.
                Ok(i64::try_from(value).map_or_else(|_| Value::from(i128::from(value)), Value::from))
            }
            Float32 => Ok(Value::from(f64::from(downcast(array.as_primitive_opt::<Float32Type>())?.value(row)))),
            Float64 => Ok(Value::from(downcast(array.as_primitive_opt::<Float64Type>())?.value(row))),
            Utf8 => self.text(downcast(array.as_string_opt::<i32>())?.value(row)),
            LargeUtf8 => self.text(downcast(array.as_string_opt::<i64>())?.value(row)),
            Utf8View => self.text(downcast(array.as_string_view_opt())?.value(row)),
            // `bytes` is not a JSON type: the object path shows it as its type name.
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Ok(Value::from("<bytes>")),
            Dictionary(key, _) => self.dictionary_value(array, key, row, depth),
            Struct(_) => self.nested(depth, |read| read.struct_value(array, row, depth)),
            _ => self.nested(depth, |read| {
                let (items, range) = list_items(array, row)?;
                range.map(|item| read.value(items, item, depth + 1)).collect::<Result<Vec<Value>>>().map(Value::from)
            }),
        }
    }

    fn nested(&mut self, depth: usize, read: impl FnOnce(&mut Self) -> Result<Value>) -> Result<Value> {
        if depth >= self.limits.input_depth {
            return Err(Error::limit(format!("input limit: nested deeper than {} levels", self.limits.input_depth)));
        }
        read(self)
    }

    /// A dict of every field, in schema order (field names are charged as the object path
    /// charges dict keys).
    fn struct_value(&mut self, array: &dyn Array, row: usize, depth: usize) -> Result<Value> {
        let structs = downcast(array.as_struct_opt())?;
        let mut pairs = Vec::with_capacity(structs.num_columns());
        for (field, column) in structs.fields().iter().zip(structs.columns()) {
            let key = self.text(field.name())?;
            pairs.push((key, self.value(column.as_ref(), row, depth + 1)?));
        }
        Ok(Value::from_pairs(pairs))
    }

    fn dictionary_value(&mut self, array: &dyn Array, key: &DataType, row: usize, depth: usize) -> Result<Value> {
        use DataType::*;
        let (values, index) = match key {
            Int8 => dictionary_entry::<Int8Type>(array, row)?,
            Int16 => dictionary_entry::<Int16Type>(array, row)?,
            Int32 => dictionary_entry::<Int32Type>(array, row)?,
            Int64 => dictionary_entry::<Int64Type>(array, row)?,
            UInt8 => dictionary_entry::<UInt8Type>(array, row)?,
            UInt16 => dictionary_entry::<UInt16Type>(array, row)?,
            UInt32 => dictionary_entry::<UInt32Type>(array, row)?,
            UInt64 => dictionary_entry::<UInt64Type>(array, row)?,
            other => return Err(unreadable(other)),
        };
        self.value(values, index, depth)
    }
}

fn int<T: ArrowPrimitiveType>(array: &dyn Array, row: usize) -> Result<Value>
where
    T::Native: Into<i64>,
{
    Ok(Value::from(downcast(array.as_primitive_opt::<T>())?.value(row).into()))
}

fn dictionary_entry<K: ArrowDictionaryKeyType>(array: &dyn Array, row: usize) -> Result<(&dyn Array, usize)> {
    let dictionary = downcast(array.as_dictionary_opt::<K>())?;
    let index = dictionary.key(row).ok_or_else(|| Error::input("a dictionary key is null"))?;
    Ok((dictionary.values().as_ref(), index))
}

/// The child array of a list-like array and the range of its items at `row`.
fn list_items(array: &dyn Array, row: usize) -> Result<(&dyn Array, std::ops::Range<usize>)> {
    match array.data_type() {
        DataType::List(_) => offsets_items(downcast(array.as_list_opt::<i32>())?, row),
        DataType::LargeList(_) => offsets_items(downcast(array.as_list_opt::<i64>())?, row),
        DataType::ListView(_) => view_items(downcast(array.as_list_view_opt::<i32>())?, row),
        DataType::LargeListView(_) => view_items(downcast(array.as_list_view_opt::<i64>())?, row),
        other => Err(unreadable(other)),
    }
}

fn offsets_items<O: OffsetSizeTrait>(
    list: &arrow_array::GenericListArray<O>,
    row: usize,
) -> Result<(&dyn Array, std::ops::Range<usize>)> {
    let offsets = list.value_offsets();
    let start = offsets[row].as_usize();
    let end = offsets[row + 1].as_usize();
    Ok((list.values().as_ref(), start..end))
}

fn view_items<O: OffsetSizeTrait>(
    list: &arrow_array::GenericListViewArray<O>,
    row: usize,
) -> Result<(&dyn Array, std::ops::Range<usize>)> {
    let start = list.value_offsets()[row].as_usize();
    let size = list.value_sizes()[row].as_usize();
    Ok((list.values().as_ref(), start..start + size))
}

fn downcast<T>(array: Option<T>) -> Result<T> {
    array.ok_or_else(|| Error::new(ErrorKind::Internal, "an Arrow array does not match its data type"))
}

fn unreadable(data_type: &DataType) -> Error {
    Error::new(ErrorKind::Internal, format!("Arrow type {data_type} cannot be read"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::Field;

    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::StringArray;
    use arrow_schema::Fields;

    fn messages_column(rows: &[&[(&str, Option<&str>)]]) -> ArrayRef {
        let fields =
            Fields::from(vec![Field::new("role", DataType::Utf8, true), Field::new("content", DataType::Utf8, true)]);
        let mut builder = ListBuilder::new(StructBuilder::from_fields(fields, 0));
        for row in rows {
            for (role, content) in *row {
                let message = builder.values();
                message.field_builder::<StringBuilder>(0).expect("role").append_value(role);
                message.field_builder::<StringBuilder>(1).expect("content").append_option(*content);
                message.append(true);
            }
            builder.append(true);
        }
        Arc::new(builder.finish())
    }

    fn read(column: ArrayRef, row: usize, limits: &Limits) -> Result<Conversation> {
        ArrowConversations::new(&column.data_type().clone(), vec![column]).expect("readable").conversation(row, limits)
    }

    #[test]
    fn a_struct_is_a_dict_of_all_fields_and_null_is_none() {
        let column = messages_column(&[&[("user", Some("hi")), ("assistant", None)]]);
        let conversation = read(column, 0, &Limits::default()).expect("reads");
        assert_eq!(conversation.messages.len(), 2);
        assert_eq!(conversation.messages[0].get_attr("content").expect("content").as_str(), Some("hi"));
        assert!(conversation.messages[1].get_attr("content").expect("content").is_none());
    }

    #[test]
    fn rows_are_numbered_across_chunks_and_slices() {
        let first = messages_column(&[&[("user", Some("a"))], &[("user", Some("b"))]]);
        let second = messages_column(&[&[("user", Some("c"))], &[("user", Some("d"))]]).slice(1, 1);
        let column = ArrowConversations::new(&first.data_type().clone(), vec![first, second]).expect("readable");
        assert_eq!(column.len(), 3);
        let contents: Vec<String> = (0..3)
            .map(|row| {
                column.conversation(row, &Limits::default()).expect("reads").messages[0]
                    .get_attr("content")
                    .expect("c")
                    .to_string()
            })
            .collect();
        assert_eq!(contents, ["a", "b", "d"]);
    }

    #[test]
    fn text_and_field_names_are_charged_to_the_input_budget() {
        let column = messages_column(&[&[("user", Some("hello"))]]);
        // "role" + "user" + "content" + "hello" = 20 bytes.
        let fits = Limits { input_bytes: 20, ..Limits::default() };
        assert!(read(column.clone(), 0, &fits).is_ok());
        let short = Limits { input_bytes: 19, ..Limits::default() };
        let err = read(column, 0, &short).expect_err("over budget");
        assert_eq!(err.kind, ErrorKind::Limit);
        assert!(err.message.starts_with("message 0: input limit"), "{}", err.message);
    }

    #[test]
    fn other_types_are_left_to_python() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["[]"]));
        assert!(ArrowConversations::new(&DataType::Utf8, vec![strings]).is_none());
        let dates = DataType::List(Arc::new(Field::new_list_field(DataType::Date32, true)));
        assert!(!readable(&dates) && is_list(&dates));
        let fixed = DataType::FixedSizeList(Arc::new(Field::new_list_field(DataType::Utf8, true)), 2);
        assert!(!ArrowConversations::reads(&fixed));
    }
}
