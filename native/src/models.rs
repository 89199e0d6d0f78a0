//! Building the Python objects the readers hand back, as the interpreted code built them.

use pyo3::exceptions::{
    PyArithmeticError, PyAttributeError, PyLookupError, PyUnicodeEncodeError, PyValueError,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PyString, PyType};

use crate::avro::Aside;

/// What went wrong in a direct read or write: step aside, or a Python error to raise.
pub enum Failure {
    Aside,
    Raise(PyErr),
}

impl Failure {
    /// For `map_err` on conversions that cannot fail.
    pub fn from_infallible(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<Aside> for Failure {
    fn from(_: Aside) -> Self {
        Failure::Aside
    }
}

impl From<PyErr> for Failure {
    fn from(err: PyErr) -> Self {
        Failure::Raise(err)
    }
}

/// `None` for stepping aside or for an error `tolerated` says means "not this way" (a value
/// out of range, text that is not UTF-8, …); every other error is raised as it was.
pub fn aside_or_raise<T>(
    py: Python<'_>,
    result: Result<T, Failure>,
    tolerated: fn(Python<'_>, &PyErr) -> bool,
) -> PyResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Failure::Aside) => Ok(None),
        Err(Failure::Raise(err)) if tolerated(py, &err) => Ok(None),
        Err(Failure::Raise(err)) => Err(err),
    }
}

/// What a read steps aside for: a lookup past the end, invalid text or digits, a timestamp
/// out of range.
pub fn unreadable(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyLookupError>(py)
        || err.is_instance_of::<PyValueError>(py)
        || err.is_instance_of::<PyArithmeticError>(py)
}

/// What a write steps aside for: a missing attribute, a number out of range, text with a lone
/// surrogate.
pub fn unwritable(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyAttributeError>(py)
        || err.is_instance_of::<PyArithmeticError>(py)
        || err.is_instance_of::<PyUnicodeEncodeError>(py)
}

/// `object.__setattr__(target, name, value)`: past the class's own `__setattr__`, as the
/// models' and UUIDs' fast constructors set their slots.
pub fn set_slot(
    target: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: all three pointers are live objects held by the caller for the whole call.
    let status =
        unsafe { ffi::PyObject_GenericSetAttr(target.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if status == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(target.py()))
    }
}

/// `object.__new__(cls)`: an instance with nothing set yet.
pub fn bare<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    // SAFETY: `cls` is a live type object; PyBaseObject_Type's tp_new only allocates, and
    // returns a new reference or NULL with an error set.
    unsafe {
        let new = (*std::ptr::addr_of_mut!(ffi::PyBaseObject_Type))
            .tp_new
            .expect("object has tp_new");
        let args = ffi::PyTuple_New(0);
        if args.is_null() {
            return Err(PyErr::fetch(py));
        }
        let made = new(cls.as_ptr().cast(), args, std::ptr::null_mut());
        ffi::Py_DECREF(args);
        Bound::from_owned_ptr_or_err(py, made)
    }
}

/// How to build one pydantic model without validating: what `Assembler` and the interpreted
/// reader did, holding the given fields as the instance's own dict, every field marked as set.
pub struct ModelKind {
    pub cls: Py<PyType>,
    pub names: Py<PyFrozenSet>,
}

impl ModelKind {
    pub fn new(cls: &Bound<'_, PyType>) -> PyResult<Self> {
        let fields = cls.getattr("__pydantic_fields__")?;
        let names = PyFrozenSet::new(cls.py(), fields.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        Ok(ModelKind {
            cls: cls.clone().unbind(),
            names: names.unbind(),
        })
    }

    pub fn build<'py>(
        &self,
        py: Python<'py>,
        fields: Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let made = bare(self.cls.bind(py))?;
        set_slot(&made, pyo3::intern!(py, "__dict__"), &fields)?;
        // SAFETY: `names` is a live frozenset; PySet_New copies it into a new set.
        let set = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySet_New(self.names.as_ptr()))? };
        set_slot(&made, pyo3::intern!(py, "__pydantic_fields_set__"), &set)?;
        let none = py.None().into_bound(py);
        set_slot(&made, pyo3::intern!(py, "__pydantic_extra__"), &none)?;
        set_slot(&made, pyo3::intern!(py, "__pydantic_private__"), &none)?;
        Ok(made)
    }
}
