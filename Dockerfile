# The choreo image: the library, its CLI and the example services, for docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# What `pip install .` builds from: the package, its schemas and the project metadata.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY choreo ./choreo
# psycopg: the collector stores into PostgreSQL.
RUN pip install . "psycopg[binary]>=3.1"

# Services run from their files (`choreo run services/shop/summary.py`), relative to /app.
COPY services ./services

# /data is the shop example's shared volume; created here so the volume belongs to choreo.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin choreo \
    && mkdir /data \
    && chown choreo /data
USER choreo
ENV CHOREO_DATA_DIR=/data

CMD ["choreo", "--help"]
