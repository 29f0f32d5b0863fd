#!/bin/sh
# Runs once, when the compose `postgres` service initialises its data volume (docker-entrypoint-initdb.d): the role
# the streaming replica (profile scale) connects as. A volume created before this script existed lacks it; create
# it by hand with the same statement (docs/operations.md, "Many nodes").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'keel-replication';
SQL
