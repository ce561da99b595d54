//! Conversations given as Arrow data, through the Arrow PyCapsule interface: any object with
//! `__arrow_c_array__` (a pyarrow Array) or `__arrow_c_stream__` (a ChunkedArray, a stream of
//! arrays) hands its buffers over without a Python object per message; `crate::arrow` reads them
//! on the batch pool with the interpreter detached. A column of a type that module does not read
//! goes through its `to_pylist()` and the Python-object path instead, so the result is the same.

use std::ffi::CStr;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{make_array, ArrayRef};
use arrow_data::ArrayData;
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyList, PyTuple};

use super::conversations::{conversations_from_py, InputConversation};
use crate::arrow::input::ArrowConversations;
use crate::error::catch_panic;
use crate::runtime::Threads;
use crate::{Error, Limits};

/// Every conversation of `batch` (a list of conversations or an Arrow column), or the error of
/// the first one that cannot be read.
pub fn conversations(
    py: Python<'_>,
    batch: &Bound<'_, PyAny>,
    limits: &Limits,
    threads: Threads,
) -> PyResult<Vec<InputConversation>> {
    Ok(match source(batch)? {
        Source::Arrow(column) => py
            .detach(|| catch_panic(|| column.read_all(limits, threads)))?
            .into_iter()
            .map(InputConversation::Values)
            .collect(),
        Source::Objects(objects) => {
            conversations_from_py(&objects, limits)?.into_iter().map(InputConversation::Plain).collect()
        }
    })
}

/// Where a batch's conversations come from.
pub enum Source<'py> {
    Arrow(ArrowConversations),
    Objects(Bound<'py, PyAny>),
}

/// An Arrow column this module reads, or the Python objects to convert.
pub fn source<'py>(batch: &Bound<'py, PyAny>) -> PyResult<Source<'py>> {
    if batch.is_instance_of::<PyList>() || batch.is_instance_of::<PyTuple>() {
        return Ok(Source::Objects(batch.clone()));
    }
    let column = if batch.hasattr("__arrow_c_array__")? {
        import_array(batch)?
    } else if batch.hasattr("__arrow_c_stream__")? {
        import_stream(batch)?
    } else {
        return Ok(Source::Objects(batch.clone()));
    };
    match column {
        Some(column) => Ok(Source::Arrow(column)),
        // A type `crate::arrow` does not read: the Python objects pyarrow makes of it.
        None if batch.hasattr("to_pylist")? => Ok(Source::Objects(batch.call_method0("to_pylist")?)),
        None => Err(Error::input(format!(
            "conversations: Arrow data of this type cannot be read ({}); pass a list<struct<...>> column or Python lists",
            batch.get_type().name()?
        ))
        .into()),
    }
}

fn import_array(batch: &Bound<'_, PyAny>) -> PyResult<Option<ArrowConversations>> {
    let pair = batch.call_method0("__arrow_c_array__")?;
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
    let schema_ptr = capsule_pointer::<FFI_ArrowSchema>(&schema, c"arrow_schema")?;
    let array_ptr = capsule_pointer::<FFI_ArrowArray>(&array, c"arrow_array")?;
    // SAFETY: the capsules hold a schema and an array of the C data interface (their names say so);
    // `from_raw` moves the array out and marks the capsule's copy released, as the interface's
    // "moving an array" prescribes, so the capsule's destructor does not release it again. The
    // schema is only borrowed while its capsule is alive.
    let data = unsafe {
        let schema = &*schema_ptr;
        let data_type = DataType::try_from(schema).map_err(invalid)?;
        if !ArrowConversations::reads(&data_type) {
            return Ok(None);
        }
        from_ffi(FFI_ArrowArray::from_raw(array_ptr), schema).map_err(invalid)?
    };
    let data_type = data.data_type().clone();
    Ok(ArrowConversations::new(&data_type, vec![checked(batch.py(), data)?]))
}

fn import_stream(batch: &Bound<'_, PyAny>) -> PyResult<Option<ArrowConversations>> {
    let capsule = batch.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let stream_ptr = capsule_pointer::<FFI_ArrowArrayStream>(capsule, c"arrow_array_stream")?;
    // SAFETY: as for arrays: the stream is moved out of the capsule, and released when dropped.
    let mut stream = unsafe { FFI_ArrowArrayStream::from_raw(stream_ptr) };
    let schema = stream_schema(&mut stream)?;
    let data_type = DataType::try_from(&schema).map_err(invalid)?;
    if !ArrowConversations::reads(&data_type) {
        return Ok(None);
    }
    let mut chunks = Vec::new();
    while let Some(data) = next_chunk(&mut stream, &schema)? {
        chunks.push(checked(batch.py(), data)?);
    }
    Ok(ArrowConversations::new(&data_type, chunks))
}

/// The chunks of any Arrow data given through the PyCapsule interface (an array is one chunk),
/// checked as conversations are; None for an object without the interface. `what` names the data
/// in errors.
pub fn arrow_chunks(data: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<Vec<ArrayRef>>> {
    let py = data.py();
    if data.hasattr("__arrow_c_array__")? {
        let pair = data.call_method0("__arrow_c_array__")?;
        let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
        let schema_ptr = capsule_pointer::<FFI_ArrowSchema>(&schema, c"arrow_schema")?;
        let array_ptr = capsule_pointer::<FFI_ArrowArray>(&array, c"arrow_array")?;
        // SAFETY: as in `import_array`: the array is moved out of its capsule, the schema borrowed.
        let data = unsafe { from_ffi(FFI_ArrowArray::from_raw(array_ptr), &*schema_ptr) }.map_err(invalid)?;
        return Ok(Some(vec![checked_as(py, data, what)?]));
    }
    if !data.hasattr("__arrow_c_stream__")? {
        return Ok(None);
    }
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let stream_ptr = capsule_pointer::<FFI_ArrowArrayStream>(capsule.cast::<PyCapsule>()?, c"arrow_array_stream")?;
    // SAFETY: as in `import_stream`.
    let mut stream = unsafe { FFI_ArrowArrayStream::from_raw(stream_ptr) };
    let schema = stream_schema(&mut stream)?;
    let mut chunks = Vec::new();
    while let Some(data) = next_chunk(&mut stream, &schema)? {
        chunks.push(checked_as(py, data, what)?);
    }
    Ok(Some(chunks))
}

fn stream_schema(stream: &mut FFI_ArrowArrayStream) -> PyResult<FFI_ArrowSchema> {
    let get_schema = stream.get_schema.ok_or_else(|| invalid("the stream is released"))?;
    let mut schema = FFI_ArrowSchema::empty();
    // SAFETY: a live stream's callback, called with the stream itself and an empty out-schema.
    let status = unsafe { get_schema(stream, &mut schema) };
    if status != 0 {
        return Err(stream_error(stream, status));
    }
    Ok(schema)
}

/// The next array of the stream, or None at its end.
fn next_chunk(stream: &mut FFI_ArrowArrayStream, schema: &FFI_ArrowSchema) -> PyResult<Option<ArrayData>> {
    let get_next = stream.get_next.ok_or_else(|| invalid("the stream is released"))?;
    let mut array = FFI_ArrowArray::empty();
    // SAFETY: as in `stream_schema`; the producer fills `array` or leaves it released at the end.
    let status = unsafe { get_next(stream, &mut array) };
    if status != 0 {
        return Err(stream_error(stream, status));
    }
    if array.is_released() {
        return Ok(None);
    }
    // SAFETY: `array` is of the stream's schema, as the interface requires of its producer.
    Ok(Some(unsafe { from_ffi(array, schema) }.map_err(invalid)?))
}

fn stream_error(stream: &mut FFI_ArrowArrayStream, status: i32) -> PyErr {
    let message = stream
        .get_last_error
        // SAFETY: the producer returns null or a NUL-terminated string valid until its next call.
        .map(|last_error| unsafe { last_error(stream) })
        .filter(|text| !text.is_null())
        .map(|text| unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("error code {status}"));
    invalid(message)
}

/// The data as an array, after checking every offset and that every string is UTF-8: the
/// producer may be any library, and reading trusts both. A panic of arrow-rs on data it did not
/// expect is this input's error, not the process's.
fn checked(py: Python<'_>, data: ArrayData) -> PyResult<ArrayRef> {
    checked_as(py, data, "conversations")
}

fn checked_as(py: Python<'_>, data: ArrayData, what: &str) -> PyResult<ArrayRef> {
    let array = py.detach(|| {
        catch_panic(|| {
            data.validate_full().map_err(|err| Error::input(format!("{what}: invalid Arrow data: {err}")))?;
            Ok(make_array(data))
        })
    })?;
    Ok(array)
}

fn capsule_pointer<T>(capsule: &Bound<'_, PyCapsule>, name: &CStr) -> PyResult<*mut T> {
    Ok(capsule.pointer_checked(Some(name))?.cast::<T>().as_ptr())
}

fn invalid(err: impl std::fmt::Display) -> PyErr {
    Error::input(format!("conversations: invalid Arrow data: {err}")).into()
}
