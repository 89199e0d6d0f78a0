//! An `AssetEvent` read straight from its Avro body into the models.
//!
//! The rules are those of the interpreted reader it replaces (see `choreo.codec.event_reader`):
//! the same models, built without validation but with the checks validation would make, and
//! `None` for anything outside the plain shapes it knows, which the codec's general path then
//! reads or rejects with the reason.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{
    PyBool, PyBytes, PyDateTime, PyDict, PyFloat, PyString, PyTuple, PyType, PyTzInfo,
};

use std::collections::HashMap;
use std::sync::Mutex;

use crate::avro::{Aside, Cursor, BRANCH_1, BRANCH_2, BRANCH_3, BRANCH_4, NULL, UUID_LENGTH};
use crate::models::{aside_or_raise, bare, set_slot, unreadable, Failure, ModelKind};

/// A UUID's canonical text: 36 characters, 32 of them hex digits.
const UUID_TEXT: usize = 36;
const UUID_DIGITS: usize = 32;
const INT_MAX: i64 = i32::MAX as i64;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// The classes and values an `AssetEvent` is made of, handed over once by the Python module.
#[pyclass(frozen, module = "choreo._native")]
pub struct EventReader {
    event: ModelKind,
    producer: ModelKind,
    input: ModelKind,
    error: ModelKind,
    /// `EventKind` members in the schema's symbol order.
    kinds: Vec<Py<PyAny>>,
    failed: Py<PyAny>,
    spelled: Py<PyType>,
    safety_unknown: Py<PyAny>,
    utc: Py<PyTzInfo>,
    /// `int`: reads the hex digits `uuid.UUID` would read when they are not plain.
    int: Py<PyAny>,
    /// `(asset, partition) -> bool`: whether the keys pass the models' key rules.
    valid_keys: Py<PyAny>,
    /// Short texts that recur from event to event (asset and partition keys, producers,
    /// metadata keys), made into Python strings once.
    texts: Mutex<HashMap<Box<[u8]>, Py<PyString>>>,
}

/// Texts up to this long are kept in `EventReader::texts`; longer ones are rarely repeated.
const KEPT_TEXT: usize = 64;
/// Past this many kept texts the cache starts again, so a stream of ever new keys costs
/// bounded memory.
const KEPT_TEXTS: usize = 8192;

#[pymethods]
impl EventReader {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        event: &Bound<'_, PyType>,
        producer: &Bound<'_, PyType>,
        input: &Bound<'_, PyType>,
        error: &Bound<'_, PyType>,
        kinds: Vec<Py<PyAny>>,
        failed: Py<PyAny>,
        spelled: Py<PyType>,
        safety_unknown: Py<PyAny>,
        utc: Py<PyTzInfo>,
        valid_keys: Py<PyAny>,
    ) -> PyResult<Self> {
        let py = event.py();
        Ok(EventReader {
            event: ModelKind::new(event)?,
            producer: ModelKind::new(producer)?,
            input: ModelKind::new(input)?,
            error: ModelKind::new(error)?,
            kinds,
            failed,
            spelled,
            safety_unknown,
            utc,
            int: py.get_type::<pyo3::types::PyInt>().into_any().unbind(),
            valid_keys,
            texts: Mutex::new(HashMap::new()),
        })
    }

    /// The `AssetEvent` whose body starts at `offset` and ends where `data` does, or `None`
    /// to take the general path.
    fn read<'py>(
        &self,
        py: Python<'py>,
        data: PyBackedBytes,
        offset: usize,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut cursor = Cursor::new(&data, offset);
        let result = self.event(py, &mut cursor);
        aside_or_raise(py, result, unreadable)
    }
}

type Read<T> = Result<T, Failure>;

impl EventReader {
    /// The Python string of `text`, shared with earlier events when short.
    fn text<'py>(&self, py: Python<'py>, text: &str) -> Bound<'py, PyString> {
        if text.len() > KEPT_TEXT {
            return PyString::new(py, text);
        }
        // The lock is never contended: every call holds the interpreter lock.
        let mut texts = self
            .texts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = texts.get(text.as_bytes()) {
            return kept.bind(py).clone();
        }
        if texts.len() >= KEPT_TEXTS {
            texts.clear();
        }
        let made = PyString::new(py, text);
        texts.insert(text.as_bytes().into(), made.clone().unbind());
        made
    }

    fn optional<'py>(&self, py: Python<'py>, text: Option<&str>) -> Option<Bound<'py, PyString>> {
        text.map(|text| self.text(py, text))
    }

    fn event<'py>(&self, py: Python<'py>, c: &mut Cursor<'_>) -> Read<Bound<'py, PyAny>> {
        let event_id = self.uuid(py, c)?;
        let kind_byte = c.byte()?;
        if kind_byte & 1 != 0 {
            return Err(Failure::Aside); // no enum index is negative
        }
        let kind = self.kinds.get(usize::from(kind_byte >> 1)).ok_or(Aside)?;
        let asset = c.text()?;
        let partition = optional_text(c)?;
        let version = c.text()?;
        let millis = c.long()?;
        let service = c.text()?;
        let instance = c.text()?;
        let code_version = optional_text(c)?;
        let run_id = optional_text(c)?;
        let correlation_id = self.optional_uuid(py, c)?;
        let inputs = self.inputs(py, c)?;
        let location = optional_text(c)?;
        let metadata = self.metadata(py, c)?;
        let error = self.error(py, c)?;
        if c.pos != c.data.len() || version.is_empty() || service.is_empty() || instance.is_empty()
        {
            return Err(Failure::Aside);
        }
        // A FAILED event without an error, or another kind with one.
        if kind.is(&self.failed) == error.is_none() {
            return Err(Failure::Aside);
        }
        if !self.valid_keys(py, asset, partition)? {
            return Err(Failure::Aside);
        }
        let producer = PyDict::new(py);
        producer.set_item(pyo3::intern!(py, "service"), self.text(py, service))?;
        producer.set_item(pyo3::intern!(py, "instance"), self.text(py, instance))?;
        producer.set_item(
            pyo3::intern!(py, "code_version"),
            self.optional(py, code_version),
        )?;
        let fields = PyDict::new(py);
        fields.set_item(pyo3::intern!(py, "event_id"), event_id)?;
        fields.set_item(pyo3::intern!(py, "kind"), kind.bind(py))?;
        fields.set_item(pyo3::intern!(py, "asset"), self.text(py, asset))?;
        fields.set_item(pyo3::intern!(py, "partition"), self.optional(py, partition))?;
        fields.set_item(pyo3::intern!(py, "version"), version)?;
        fields.set_item(pyo3::intern!(py, "occurred_at"), self.moment(py, millis)?)?;
        fields.set_item(
            pyo3::intern!(py, "producer"),
            self.producer.build(py, producer)?,
        )?;
        fields.set_item(pyo3::intern!(py, "run_id"), run_id)?;
        fields.set_item(pyo3::intern!(py, "correlation_id"), correlation_id)?;
        fields.set_item(pyo3::intern!(py, "inputs"), inputs)?;
        fields.set_item(pyo3::intern!(py, "location"), location)?;
        fields.set_item(pyo3::intern!(py, "metadata"), metadata)?;
        fields.set_item(pyo3::intern!(py, "error"), error)?;
        Ok(self.event.build(py, fields)?)
    }

    fn valid_keys(&self, py: Python<'_>, asset: &str, partition: Option<&str>) -> Read<bool> {
        Ok(self
            .valid_keys
            .bind(py)
            .call1((asset, partition))?
            .is_truthy()?)
    }

    /// The `uuid` string, 36 characters long, as `uuid.UUID(text)` reads it: the hyphens
    /// dropped, 32 characters left, given to `int(…, 16)`. Already canonical text (lower-case
    /// hex digits, hyphens in place) is kept, so the id is never formatted again.
    fn uuid<'py>(&self, py: Python<'py>, c: &mut Cursor<'_>) -> Read<Bound<'py, PyAny>> {
        if c.byte()? != UUID_LENGTH {
            return Err(Failure::Aside);
        }
        let raw = c.take(UUID_TEXT)?;
        let digits: Vec<u8> = raw.iter().copied().filter(|&b| b != b'-').collect();
        if digits.len() != UUID_DIGITS {
            return Err(Failure::Aside);
        }
        let value: Bound<'py, PyAny> = match plain_hex(&digits) {
            Some(value) => value
                .into_pyobject(py)
                .map_err(Failure::from_infallible)?
                .into_any(),
            // Whatever else `int` accepts (a sign, underscores, spaces, a 0x prefix) it reads
            // here exactly as `uuid.UUID` would have.
            None => self.int.bind(py).call1((PyBytes::new(py, &digits), 16))?,
        };
        let canonical = [8, 13, 18, 23].iter().all(|&i| raw[i] == b'-')
            && raw
                .iter()
                .all(|&b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'));
        let made = bare(self.spelled.bind(py))?;
        set_slot(&made, pyo3::intern!(py, "int"), &value)?;
        set_slot(
            &made,
            pyo3::intern!(py, "is_safe"),
            self.safety_unknown.bind(py),
        )?;
        let text = if canonical {
            // Checked above: ASCII only.
            PyString::new(py, std::str::from_utf8(raw).map_err(|_| Aside)?).into_any()
        } else {
            py.None().into_bound(py)
        };
        set_slot(&made, pyo3::intern!(py, "_text"), &text)?;
        Ok(made)
    }

    fn optional_uuid<'py>(
        &self,
        py: Python<'py>,
        c: &mut Cursor<'_>,
    ) -> Read<Option<Bound<'py, PyAny>>> {
        match c.byte()? {
            NULL => Ok(None),
            BRANCH_1 => Ok(Some(self.uuid(py, c)?)),
            _ => Err(Failure::Aside),
        }
    }

    /// `datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)`, as fastavro reads
    /// `timestamp-millis`; beyond what a datetime holds, the general path reports it.
    fn moment<'py>(&self, py: Python<'py>, millis: i64) -> Read<Bound<'py, PyDateTime>> {
        let days = millis.div_euclid(MILLIS_PER_DAY);
        let in_day = millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(1..=9999).contains(&year) {
            return Err(Failure::Aside);
        }
        let seconds = in_day / 1000;
        Ok(PyDateTime::new(
            py,
            year as i32,
            month,
            day,
            (seconds / 3600) as u8,
            (seconds / 60 % 60) as u8,
            (seconds % 60) as u8,
            ((in_day % 1000) * 1000) as u32,
            Some(self.utc.bind(py)),
        )?)
    }

    fn inputs<'py>(&self, py: Python<'py>, c: &mut Cursor<'_>) -> Read<Bound<'py, PyTuple>> {
        if c.peek()? == 0 {
            c.pos += 1; // most events have no inputs
            return Ok(PyTuple::empty(py));
        }
        let mut items = Vec::new();
        let mut count = c.block_count()?;
        while count > 0 {
            for _ in 0..count {
                let asset = c.text()?;
                let partition = optional_text(c)?;
                let version = c.text()?;
                let event_id = self.optional_uuid(py, c)?;
                if version.is_empty() || !self.valid_keys(py, asset, partition)? {
                    return Err(Failure::Aside);
                }
                let fields = PyDict::new(py);
                fields.set_item(pyo3::intern!(py, "asset"), self.text(py, asset))?;
                fields.set_item(pyo3::intern!(py, "partition"), self.optional(py, partition))?;
                fields.set_item(pyo3::intern!(py, "version"), version)?;
                fields.set_item(pyo3::intern!(py, "event_id"), event_id)?;
                items.push(self.input.build(py, fields)?);
            }
            count = c.block_count()?;
        }
        Ok(PyTuple::new(py, items)?)
    }

    fn error<'py>(&self, py: Python<'py>, c: &mut Cursor<'_>) -> Read<Option<Bound<'py, PyAny>>> {
        match c.byte()? {
            NULL => return Ok(None),
            BRANCH_1 => {}
            _ => return Err(Failure::Aside),
        }
        let kind = c.text()?;
        let message = c.text()?;
        let attempt = c.long()?;
        if kind.is_empty() || !(1..=INT_MAX).contains(&attempt) {
            return Err(Failure::Aside);
        }
        let fields = PyDict::new(py);
        fields.set_item(pyo3::intern!(py, "type"), kind)?;
        fields.set_item(pyo3::intern!(py, "message"), message)?;
        fields.set_item(pyo3::intern!(py, "attempt"), attempt)?;
        Ok(Some(self.error.build(py, fields)?))
    }

    /// The metadata map; a repeated key keeps its first place and its last value, as in fastavro.
    fn metadata<'py>(&self, py: Python<'py>, c: &mut Cursor<'_>) -> Read<Bound<'py, PyDict>> {
        let values = PyDict::new(py);
        let mut count = c.block_count()?;
        while count > 0 {
            for _ in 0..count {
                let key = c.text()?;
                let value: Bound<'py, PyAny> = match c.byte()? {
                    BRANCH_4 => PyString::new(py, c.text()?).into_any(),
                    BRANCH_2 => c
                        .long()?
                        .into_pyobject(py)
                        .map_err(Failure::from_infallible)?
                        .into_any(),
                    NULL => py.None().into_bound(py),
                    BRANCH_1 => match c.byte()? {
                        0 => PyBool::new(py, false).to_owned().into_any(),
                        1 => PyBool::new(py, true).to_owned().into_any(),
                        _ => return Err(Failure::Aside), // fastavro reads any other byte as True
                    },
                    BRANCH_3 => {
                        let raw: [u8; 8] = c.take(8)?.try_into().map_err(|_| Aside)?;
                        PyFloat::new(py, f64::from_le_bytes(raw)).into_any()
                    }
                    _ => return Err(Failure::Aside),
                };
                values.set_item(self.text(py, key), value)?;
            }
            count = c.block_count()?;
        }
        Ok(values)
    }
}

fn optional_text<'a>(c: &mut Cursor<'a>) -> Result<Option<&'a str>, Aside> {
    match c.byte()? {
        NULL => Ok(None),
        BRANCH_1 => Ok(Some(c.text()?)),
        _ => Err(Aside),
    }
}

/// 32 hex digits as a number, or `None` when any is not a plain hex digit.
fn plain_hex(digits: &[u8]) -> Option<u128> {
    let text = std::str::from_utf8(digits).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

/// The proleptic Gregorian `(year, month, day)` of a day count from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_at_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(20_777), (2026, 11, 20));
        assert_eq!(civil_from_days(-719_162), (1, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn plain_hex_refuses_anything_but_digits() {
        assert_eq!(plain_hex(b"000000000000000000000000000000ff"), Some(255));
        assert_eq!(plain_hex(b"+00000000000000000000000000000ff"), None);
        assert_eq!(plain_hex(b"0000000000000000000000000000_0ff"), None);
    }
}
