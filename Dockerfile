# Quorum: the main job (replay of the shipped real data through the whole flow) by default.
FROM python:3.11-slim

# QUORUM_BIND_HOST: `serve` and `dashboard` listen on every interface inside the container
# (the CLI's own default stays 127.0.0.1); override it with -e QUORUM_BIND_HOST=...
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg GX_ANALYTICS_ENABLED=false QUORUM_BIND_HOST=0.0.0.0

WORKDIR /app
# ta-lib and the other binary dependencies ship manylinux wheels; no compiler needed.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY operators ./operators
COPY connectors ./connectors
COPY flows ./flows
COPY api ./api
COPY dashboards ./dashboards
COPY benchmarks ./benchmarks
RUN pip install . && useradd --create-home quorum && mkdir -p /data && chown quorum /data
USER quorum
VOLUME ["/data"]
EXPOSE 8000 8501

ENTRYPOINT ["quorum"]
CMD ["run", "--store", "/data/quorum.sqlite", "--report", "/data/report.json", "--plot", "/data/equity.png"]
