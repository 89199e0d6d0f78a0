//! `choreo._native`: the steps every service takes for each event, compiled.
//!
//! A service spends most of its time per event in small steps of its own (reading the input's
//! Avro body into the models, writing the output's), each a few microseconds of interpreted
//! Python. The same steps here take a fraction of that, and give exactly the same objects and
//! bytes: the Python modules that use them (`choreo.codec.event_reader`, `event_writer`) hand
//! over the classes to build and keep the rules that are not about bytes (key syntax).

use pyo3::prelude::*;

mod avro;
mod headers;
mod models;
mod reader;
mod writer;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reader::EventReader>()?;
    m.add_class::<writer::EventWriter>()?;
    m.add_class::<headers::HeaderWriter>()?;
    Ok(())
}
