#!/bin/sh
# Entrypoint of the compose `postgres-replica` service (profile scale): on first start, clone the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), then run PostgreSQL as a hot standby that
# streams from it. Runs as the `postgres` user. app-2 and worker-2 read from it (DATABASE_REPLICA_URLS).
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "cloning ${PRIMARY_HOST} into ${PGDATA}"
  until pg_isready -h "$PRIMARY_HOST" -q; do sleep 1; done
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -U "$REPLICATION_USER" \
    -D "$PGDATA" -R -X stream --no-password
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
