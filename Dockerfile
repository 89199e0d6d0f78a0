# The choreo image: the library, its CLI and the example services, for docker-compose.yml.

# choreo's native core is Rust: the wheel is built in a Rust image (Debian bookworm, whose
# python3 is 3.11 like the image below) and only the wheel is carried over.
FROM rust:1-slim-bookworm AS wheel
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY native ./native
COPY schemas ./schemas
COPY choreo ./choreo
RUN python3 -m venv /build && /build/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# psycopg: the collector stores into PostgreSQL.
COPY --from=wheel /wheels /wheels
RUN pip install /wheels/choreo-*.whl "psycopg[binary]>=3.1" && rm -r /wheels

# Services run from their files (`choreo run services/shop/summary.py`), relative to /app.
COPY services ./services

# /data is the shop example's shared volume; created here so the volume belongs to choreo.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin choreo \
    && mkdir /data \
    && chown choreo /data
USER choreo
ENV CHOREO_DATA_DIR=/data

CMD ["choreo", "--help"]
