//! The CloudEvents binary-mode Kafka headers of an `AssetEvent`.
//!
//! The attribute choices are `choreo.codec.cloudevents`'s, which hands over the values that do
//! not depend on the event (the type of each kind, the content types) and keeps the one rule
//! that is not about bytes: how a producer's names become `ce_source` (percent-encoding).

use pyo3::prelude::*;
use pyo3::types::{
    PyBytes, PyDateAccess, PyDateTime, PyList, PyString, PyTimeAccess, PyTuple, PyTzInfo,
};

/// What `headers_for` gives an `AssetEvent`, handed over once by the Python module.
#[pyclass(frozen, module = "choreo._native")]
pub struct HeaderWriter {
    /// `EventKind` members and the `ce_type` of each, in the same order.
    kinds: Vec<Py<PyAny>>,
    types: Vec<Py<PyBytes>>,
    spec_version: Py<PyBytes>,
    /// `content-type` for single-object encoding, then for registry framing.
    content_types: (Py<PyBytes>, Py<PyBytes>),
    /// `(service, instance) -> bytes`: the `ce_source` path.
    source: Py<PyAny>,
    utc: Py<PyTzInfo>,
}

#[pymethods]
impl HeaderWriter {
    #[new]
    fn new(
        kinds: Vec<Py<PyAny>>,
        types: Vec<Py<PyBytes>>,
        spec_version: Py<PyBytes>,
        content_types: (Py<PyBytes>, Py<PyBytes>),
        source: Py<PyAny>,
        utc: Py<PyTzInfo>,
    ) -> PyResult<Self> {
        if kinds.len() != types.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "one ce_type per kind",
            ));
        }
        Ok(HeaderWriter {
            kinds,
            types,
            spec_version,
            content_types,
            source,
            utc,
        })
    }

    /// `(name, value)` pairs, as Kafka clients take them, for an `AssetEvent`.
    fn event<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        registry_framed: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let kind = event.getattr(pyo3::intern!(py, "kind"))?;
        let Some(index) = self.kinds.iter().position(|k| kind.is(k)) else {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown kind {kind}"
            )));
        };
        let event_id = event.getattr(pyo3::intern!(py, "event_id"))?.str()?;
        let asset = event.getattr(pyo3::intern!(py, "asset"))?;
        let asset = asset.cast::<PyString>()?.to_str()?;
        let partition = event.getattr(pyo3::intern!(py, "partition"))?;
        let mut subject = String::with_capacity(64);
        subject.push_str(asset);
        if !partition.is_none() {
            subject.push('/');
            subject.push_str(partition.cast::<PyString>()?.to_str()?);
        }
        let producer = event.getattr(pyo3::intern!(py, "producer"))?;
        let source = self.source.bind(py).call1((
            producer.getattr(pyo3::intern!(py, "service"))?,
            producer.getattr(pyo3::intern!(py, "instance"))?,
        ))?;
        let time = self.rfc3339(&event.getattr(pyo3::intern!(py, "occurred_at"))?)?;
        let content_type = if registry_framed {
            &self.content_types.1
        } else {
            &self.content_types.0
        };
        let pairs = [
            (
                pyo3::intern!(py, "ce_specversion"),
                self.spec_version.bind(py).clone().into_any(),
            ),
            (
                pyo3::intern!(py, "ce_id"),
                PyBytes::new(py, event_id.to_str()?.as_bytes()).into_any(),
            ),
            (pyo3::intern!(py, "ce_source"), source),
            (
                pyo3::intern!(py, "ce_type"),
                self.types[index].bind(py).clone().into_any(),
            ),
            (
                pyo3::intern!(py, "ce_subject"),
                PyBytes::new(py, subject.as_bytes()).into_any(),
            ),
            (
                pyo3::intern!(py, "ce_time"),
                PyBytes::new(py, time.as_bytes()).into_any(),
            ),
            (
                pyo3::intern!(py, "content-type"),
                content_type.bind(py).clone().into_any(),
            ),
        ];
        let items = pairs
            .into_iter()
            .map(|(name, value)| PyTuple::new(py, [name.clone().into_any(), value]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }
}

impl HeaderWriter {
    /// RFC 3339 in UTC with milliseconds, as `moment.astimezone(UTC).isoformat(timespec=
    /// "milliseconds")` spells it, with `Z` for the offset.
    fn rfc3339(&self, moment: &Bound<'_, PyAny>) -> PyResult<String> {
        let py = moment.py();
        let utc = self.utc.bind(py);
        let in_utc = match moment.getattr(pyo3::intern!(py, "tzinfo")) {
            Ok(tz) if tz.is(utc) => moment.clone(),
            _ => moment.call_method1(pyo3::intern!(py, "astimezone"), (utc,))?,
        };
        let at = in_utc.cast::<PyDateTime>()?;
        Ok(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.get_year(),
            at.get_month(),
            at.get_day(),
            at.get_hour(),
            at.get_minute(),
            at.get_second(),
            at.get_microsecond() / 1000
        ))
    }
}
