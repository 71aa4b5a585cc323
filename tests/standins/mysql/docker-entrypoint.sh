#!/usr/bin/env bash
# Stand-in entrypoint with the official mysql image's contract (the parts this project relies on):
# on an empty datadir, initialise it, set the root password from MYSQL_ROOT_PASSWORD for root@localhost
# and root@'%', run /docker-entrypoint-initdb.d/*.sql and *.sh against a temporary server that listens
# on the socket only, then start the real server on 0.0.0.0:3306.
set -euo pipefail

readonly DATADIR=/var/lib/mysql
readonly SOCKET=/run/mysqld/mysqld.sock

log() { printf '%s [Entrypoint]: %s\n' "$(date -u +%FT%TZ)" "$*"; }
err() { log "ERROR: $*" >&2; exit 1; }

sql_escape() { local value="${1//\\/\\\\}"; printf '%s' "${value//\'/\\\'}"; }

client() { mariadb --no-defaults --protocol=socket --socket="${SOCKET}" --user=root "$@"; }

initialise() {
  if [[ -z "${MYSQL_ROOT_PASSWORD:-}" && -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]]; then
    err "Database is uninitialized and password option is not specified
    You need to specify one of MYSQL_ROOT_PASSWORD or MYSQL_ALLOW_EMPTY_PASSWORD"
  fi
  log "Initializing database files"
  mariadb-install-db --no-defaults --user=mysql --datadir="${DATADIR}" \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null

  log "Starting temporary server (socket only)"
  mariadbd --no-defaults --user=mysql --datadir="${DATADIR}" --socket="${SOCKET}" --skip-networking &
  local temporary=$!
  local tries
  for ((tries = 0; tries < 60; tries++)); do
    client -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  client -e 'SELECT 1' >/dev/null || err "temporary server did not start"

  # install-db also creates root@127.0.0.1, root@::1 and root@<hostname> without a password; the
  # official image has only root@localhost and root@'%'. Left in place, a TCP login from 127.0.0.1
  # (the API in the same Pod) would match the passwordless root@127.0.0.1 and be refused.
  client --batch --skip-column-names -e "SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';')
    FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')" | client

  local password
  password="$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")"
  client <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '${password}';
CREATE USER 'root'@'%' IDENTIFIED BY '${password}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  if [[ -n "${MYSQL_DATABASE:-}" ]]; then
    MYSQL_PWD="${MYSQL_ROOT_PASSWORD:-}" client -e "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`"
  fi

  local script
  for script in /docker-entrypoint-initdb.d/*; do
    case "${script}" in
      *.sql) log "running ${script}"; MYSQL_PWD="${MYSQL_ROOT_PASSWORD:-}" client <"${script}" ;;
      *.sh) log "running ${script}"; # shellcheck source=/dev/null
            source "${script}" ;;
      *) log "ignoring ${script}" ;;
    esac
  done

  log "Stopping temporary server"
  kill "${temporary}"
  wait "${temporary}" || true
  log "Database initialised; ready for start up."
}

main() {
  if [[ "${1:-}" != mariadbd ]]; then
    exec "$@"
  fi
  if [[ ! -d "${DATADIR}/mysql" ]]; then
    initialise
  fi
  exec mariadbd --no-defaults --user=mysql --datadir="${DATADIR}" --socket="${SOCKET}" \
    --bind-address=0.0.0.0 --port=3306 --skip-name-resolve "${@:2}"
}

main "$@"
