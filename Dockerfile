# dhis2sync image: a build stage with the compilers, a runtime stage with only the libraries.
#   docker build -t dhis2sync .
#   docker run -e DATABASE_URL=postgresql://user:pass@host/db -p 4999:4999 dhis2sync
# The image has no PostgreSQL server: DATABASE_URL must always be set (docker-compose.yml does).

# ---- build ---------------------------------------------------------------------------------
FROM debian:12-slim AS build
WORKDIR /src
# The same script as `make deps` and CI, so the three never disagree on packages.
COPY .ci/deps.sh .ci/deps.sh
# postgresql-client-15 only to copy its pg_dump, pg_restore and psql into the runtime stage:
# the package itself drags perl and postgresql-client-common into the image
RUN bash .ci/deps.sh --build \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" build/dhis2sync

# ---- runtime -------------------------------------------------------------------------------
FROM debian:12-slim
# Runtime libraries of build/dhis2sync; curl for HEALTHCHECK; libreadline8 for psql.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      liblua5.4-0 libcurl4 libpq5 libmicrohttpd12 libcjson1 libssl3 zlib1g libdeflate0 libcrypt1 \
      libreadline8 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
# pg_dump, pg_restore and psql for `dhis2sync backup|restore`, where backup.c looks for them.
# They must be >= the server's major version, which is why docker-compose.yml pins postgres:15.
COPY --from=build /usr/lib/postgresql/15/bin/pg_dump /usr/lib/postgresql/15/bin/pg_restore \
     /usr/lib/postgresql/15/bin/psql /usr/lib/postgresql/15/bin/

# A fixed, non-root uid/gid; build with --build-arg UID=$(id -u) --build-arg GID=$(id -g) to
# match the owner of the host folders you bind-mount (mappings/, backups/).
ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid "${GID}" dhis2sync \
 && useradd --system --uid "${UID}" --gid dhis2sync --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin dhis2sync

# Relative paths (db/, web/, scripts/, mappings/, var/) are taken from the working directory.
WORKDIR /app
COPY --from=build /src/build/dhis2sync /usr/local/bin/dhis2sync
COPY db/ db/
COPY web/ web/
COPY docs/mappings.md docs/mappings.md
COPY scripts/ scripts/
# Example mappings: they seed a fresh volume; a bind mount of your own folder replaces them.
COPY --chown=dhis2sync:dhis2sync mappings/ mappings/
RUN mkdir -p var backups && chown dhis2sync:dhis2sync var backups mappings

# mappings/ and scripts/ live outside the image so they are edited on the host and hot reload
# picks the change up; var/ holds state (e.g. var/secret.key when DHIS2SYNC_SECRET_KEY is unset).
VOLUME ["/app/mappings", "/app/scripts", "/app/var"]

USER dhis2sync
ENV DHIS2SYNC_PORT=4999
EXPOSE 4999
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${DHIS2SYNC_PORT:-4999}/health" >/dev/null || exit 1

ENTRYPOINT ["dhis2sync"]
CMD ["serve"]
