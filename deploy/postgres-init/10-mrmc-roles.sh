#!/bin/sh
# First start of the database container only (PostgreSQL image's docker-entrypoint-initdb.d):
# the owner of the database and its tables, and the role the application connects as.
# `manage.py grant_app_role` (the migrate service) grants the latter its privileges.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$MRMC_OWNER_PASSWORD" -v app_password="$MRMC_APP_PASSWORD" <<'SQL'
CREATE ROLE mrmc_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE mrmc_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER DATABASE mrmc OWNER TO mrmc_owner;
REVOKE ALL ON DATABASE mrmc FROM PUBLIC;
GRANT CONNECT ON DATABASE mrmc TO mrmc_app;
SQL
