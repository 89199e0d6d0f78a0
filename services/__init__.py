"""Example choreographies: standalone services, each owning the assets it builds.

They are a package so that ``python -m services.shop.ingest`` works from the repository root;
each service module still imports nothing but ``choreo`` and runs on its own with
``choreo run services/shop/<module>.py``.
"""
