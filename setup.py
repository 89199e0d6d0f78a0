"""The parts of the build ``pyproject.toml`` cannot say: the native core, and the schemas.

``native/`` is built by cargo into ``choreo._native`` (always optimised: a debug build is many
times slower, and benchmarks run from editable installs). The Avro schemas live in ``schemas/``
at the top of the checkout and ship inside the package as ``choreo/_schemas``.
"""

from setuptools import find_packages, setup
from setuptools_rust import Binding, RustExtension

setup(
    packages=[*find_packages(include=["choreo", "choreo.*"]), "choreo._schemas"],
    package_dir={"choreo._schemas": "schemas"},
    package_data={"choreo._schemas": ["*.avsc"]},
    rust_extensions=[
        RustExtension("choreo._native", path="native/Cargo.toml", binding=Binding.PyO3, debug=False)
    ],
)
