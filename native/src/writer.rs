//! The Avro body of an `AssetEvent`, written straight from its attributes.
//!
//! The rules are those of the interpreted writer it replaces (see
//! `choreo.codec.event_writer`): the same bytes as fastavro writes, and `None` for anything
//! outside the plain shapes it knows (a value of an unexpected type, a number Avro cannot
//! hold, …), which the codec's general path then writes or rejects with the reason.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDateTime, PyDelta, PyDeltaAccess, PyDict, PyFloat, PyInt, PyString, PyTuple,
    PyType,
};

use crate::avro::{
    write_long, write_text, Aside, BRANCH_1, BRANCH_2, BRANCH_3, BRANCH_4, NULL, UUID_LENGTH,
};
use crate::models::{aside_or_raise, unwritable, Failure};

/// The classes an `AssetEvent` is made of, handed over once by the Python module.
#[pyclass(frozen, module = "choreo._native")]
pub struct EventWriter {
    kind_class: Py<PyType>,
    /// `EventKind` members in the schema's symbol order.
    kinds: Vec<Py<PyAny>>,
    producer: Py<PyType>,
    input: Py<PyType>,
    error: Py<PyType>,
    /// The UUID classes whose text is written: `uuid.UUID` and choreo's `SpelledUUID`.
    uuids: Vec<Py<PyType>>,
    epoch: Py<PyDateTime>,
}

#[pymethods]
impl EventWriter {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind_class: Py<PyType>,
        kinds: Vec<Py<PyAny>>,
        producer: Py<PyType>,
        input: Py<PyType>,
        error: Py<PyType>,
        uuids: Vec<Py<PyType>>,
        epoch: Py<PyDateTime>,
    ) -> Self {
        EventWriter {
            kind_class,
            kinds,
            producer,
            input,
            error,
            uuids,
            epoch,
        }
    }

    /// The Avro body of `event`, or `None` to take the general path.
    fn write<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut out = Vec::with_capacity(512);
        let result = self.event(py, event, &mut out);
        Ok(aside_or_raise(py, result, unwritable)?.map(|()| PyBytes::new(py, &out)))
    }
}

type Write = Result<(), Failure>;

/// Whether `value`'s class is exactly `cls`: subclasses are left to the general path.
fn is_exactly(value: &Bound<'_, PyAny>, cls: &Py<PyType>) -> bool {
    value.get_type().is(cls)
}

impl EventWriter {
    fn event(&self, py: Python<'_>, event: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
        let kind = event.getattr(pyo3::intern!(py, "kind"))?;
        let producer = event.getattr(pyo3::intern!(py, "producer"))?;
        if !is_exactly(&kind, &self.kind_class) || !is_exactly(&producer, &self.producer) {
            return Err(Failure::Aside);
        }
        self.uuid(&event.getattr(pyo3::intern!(py, "event_id"))?, out)?;
        let index = self.kinds.iter().position(|k| kind.is(k)).ok_or(Aside)?;
        out.push((index as u8) << 1);
        text(&event.getattr(pyo3::intern!(py, "asset"))?, out)?;
        optional_text(&event.getattr(pyo3::intern!(py, "partition"))?, out)?;
        text(&event.getattr(pyo3::intern!(py, "version"))?, out)?;
        self.millis(py, &event.getattr(pyo3::intern!(py, "occurred_at"))?, out)?;
        text(&producer.getattr(pyo3::intern!(py, "service"))?, out)?;
        text(&producer.getattr(pyo3::intern!(py, "instance"))?, out)?;
        optional_text(&producer.getattr(pyo3::intern!(py, "code_version"))?, out)?;
        optional_text(&event.getattr(pyo3::intern!(py, "run_id"))?, out)?;
        let correlation_id = event.getattr(pyo3::intern!(py, "correlation_id"))?;
        if correlation_id.is_none() {
            out.push(NULL);
        } else {
            out.push(BRANCH_1);
            self.uuid(&correlation_id, out)?;
        }
        self.inputs(py, &event.getattr(pyo3::intern!(py, "inputs"))?, out)?;
        optional_text(&event.getattr(pyo3::intern!(py, "location"))?, out)?;
        metadata(&event.getattr(pyo3::intern!(py, "metadata"))?, out)?;
        self.error(py, &event.getattr(pyo3::intern!(py, "error"))?, out)
    }

    fn uuid(&self, value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
        if !self.uuids.iter().any(|cls| is_exactly(value, cls)) {
            return Err(Failure::Aside);
        }
        let spelled = value.str()?;
        out.push(UUID_LENGTH);
        out.extend_from_slice(spelled.to_str()?.as_bytes());
        Ok(())
    }

    /// `timestamp-millis` of an aware datetime, computed as fastavro computes it.
    fn millis(&self, py: Python<'_>, moment: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
        if !moment.get_type().is(py.get_type::<PyDateTime>())
            || moment.getattr(pyo3::intern!(py, "tzinfo"))?.is_none()
        {
            return Err(Failure::Aside);
        }
        let delta = moment.sub(self.epoch.bind(py))?;
        let delta = delta.cast::<PyDelta>().map_err(|_| Aside)?;
        let whole_seconds = i64::from(delta.get_days()) * 86_400 + i64::from(delta.get_seconds());
        write_long(
            out,
            whole_seconds * 1000 + i64::from(delta.get_microseconds()) / 1000,
        );
        Ok(())
    }

    fn inputs(&self, py: Python<'_>, inputs: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
        let inputs = inputs.cast_exact::<PyTuple>().map_err(|_| Aside)?;
        if !inputs.is_empty() {
            write_long(out, inputs.len() as i64);
            for item in inputs.iter() {
                if !is_exactly(&item, &self.input) {
                    return Err(Failure::Aside);
                }
                text(&item.getattr(pyo3::intern!(py, "asset"))?, out)?;
                optional_text(&item.getattr(pyo3::intern!(py, "partition"))?, out)?;
                text(&item.getattr(pyo3::intern!(py, "version"))?, out)?;
                let event_id = item.getattr(pyo3::intern!(py, "event_id"))?;
                if event_id.is_none() {
                    out.push(NULL);
                } else {
                    out.push(BRANCH_1);
                    self.uuid(&event_id, out)?;
                }
            }
        }
        out.push(0);
        Ok(())
    }

    fn error(&self, py: Python<'_>, error: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
        if error.is_none() {
            out.push(NULL);
            return Ok(());
        }
        let attempt = error.getattr(pyo3::intern!(py, "attempt"))?;
        if !is_exactly(error, &self.error) || !attempt.is_exact_instance_of::<PyInt>() {
            return Err(Failure::Aside);
        }
        let attempt: i32 = attempt.extract()?; // beyond an Avro int: OverflowError, aside
        out.push(BRANCH_1);
        text(&error.getattr(pyo3::intern!(py, "type"))?, out)?;
        text(&error.getattr(pyo3::intern!(py, "message"))?, out)?;
        write_long(out, i64::from(attempt));
        Ok(())
    }
}

/// An Avro `string`, from a value that must be exactly a `str`.
fn text(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
    let value = value.cast_exact::<PyString>().map_err(|_| Aside)?;
    // A lone surrogate raises UnicodeEncodeError, which steps aside.
    write_text(out, value.to_str()?.as_bytes());
    Ok(())
}

fn optional_text(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
    if value.is_none() {
        out.push(NULL);
        Ok(())
    } else {
        out.push(BRANCH_1);
        text(value, out)
    }
}

/// The `metadata` map: one block holding every entry, then the empty end block.
fn metadata(metadata: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
    let metadata = metadata.cast_exact::<PyDict>().map_err(|_| Aside)?;
    if !metadata.is_empty() {
        write_long(out, metadata.len() as i64);
        for (key, value) in metadata.iter() {
            text(&key, out)?;
            metadata_value(&value, out)?;
        }
    }
    out.push(0);
    Ok(())
}

/// A `[null, boolean, long, double, string]` value: the branch its Python type picks.
fn metadata_value(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Write {
    if value.is_none() {
        out.push(NULL);
    } else if let Ok(flag) = value.cast_exact::<PyBool>() {
        out.extend_from_slice(&[BRANCH_1, u8::from(flag.is_true())]);
    } else if value.is_exact_instance_of::<PyInt>() {
        let n: i64 = value.extract()?; // beyond a long: OverflowError, aside
        out.push(BRANCH_2);
        write_long(out, n);
    } else if let Ok(number) = value.cast_exact::<PyFloat>() {
        out.push(BRANCH_3);
        out.extend_from_slice(&number.value().to_le_bytes());
    } else {
        out.push(BRANCH_4);
        text(value, out)?;
    }
    Ok(())
}
