#!/usr/bin/env bash
# STAND-IN entrypoint for datascientest/mysql-k8s:1.0.0 (MySQL 8 on the official image's entrypoint),
# written from the facts of docker-library/mysql's 8.0 docker-entrypoint.sh, including its flaws:
# - arguments that start with "-" mean "mysqld with these options"; any other command runs as given;
# - started as root, it hands what in the datadir is not the mysql user's to that user (the user only,
#   not the group), then runs itself again as mysql through gosu; started as any other user, it does
#   neither and runs everything as that user, which must be able to write the datadir, /var/run/mysqld
#   and /tmp;
# - on an empty datadir: initialise, start a temporary server on the Unix socket only, set the root
#   password for root@localhost and root@'%', create MYSQL_DATABASE if set and missing, run
#   /docker-entrypoint-initdb.d/* (SQL in MYSQL_DATABASE when set; sourced scripts get docker_process_sql),
#   stop the temporary server, then start the real one on port 3306 (every interface unless the options
#   say otherwise);
# - MYSQL_ROOT_PASSWORD is pasted unescaped into SQL (IDENTIFIED BY '...') and into a client option
#   file (password="...") that every later step, the temporary server's shutdown included, logs in with.
#   So a ' breaks initialisation, a \ makes the server store another password than the one given, and a
#   " followed by a # cuts the option file's password short. The stand-in must fail where the real one does.
# What differs: MariaDB 10.11 instead of MySQL 8, so MySQL-only options are mapped (server_options).
set -euo pipefail
shopt -s nullglob

readonly DATADIR=/var/lib/mysql
readonly SOCKET=/var/run/mysqld/mysqld.sock
readonly INIT_DIR=/docker-entrypoint-initdb.d
readonly TEMPORARY_SERVER_TIMEOUT_SECONDS="${TEMPORARY_SERVER_TIMEOUT_SECONDS:-60}"

log() { printf '%s [Note] [Entrypoint]: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
err() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; exit 1; }

# The official image's server configuration (its my.cnf and conf.d/docker.cnf), given on the command
# line: the stand-in reads no config file (Debian's MariaDB package would bind to 127.0.0.1 and hide
# what the arguments do). No --user: the server runs as whoever the entrypoint runs as.
server_defaults=(--no-defaults "--datadir=${DATADIR}" "--socket=${SOCKET}"
  --pid-file=/var/run/mysqld/mysqld.pid --port=3306 --skip-name-resolve)

# MySQL options MariaDB lacks. MariaDB has no X Plugin, so "X Protocol off" already holds: drop it.
# Any other X Plugin setting cannot be honoured, and says so.
server_options=()
map_options() {
  local option
  for option in "$@"; do
    case "${option}" in
      --mysqlx=OFF | --mysqlx=off | --mysqlx=0 | --skip-mysqlx)
        log "${option}: MariaDB has no X Plugin; nothing listens on 33060" ;;
      --mysqlx* | --loose-mysqlx*)
        err "${option}: the stand-in (MariaDB) has no X Plugin" ;;
      *) server_options+=("${option}") ;;
    esac
  done
}

# The client logs in through a generated option file, as the official one does: the password is pasted
# between double quotes, unescaped, and the client's option-file parser reads it back.
root_option_file() { printf '[client]\npassword="%s"\n' "${MYSQL_ROOT_PASSWORD}"; }
client() {
  mariadb --defaults-extra-file=<(root_option_file) --protocol=socket --socket="${SOCKET}" --user=root "$@"
}
client_before_password() { mariadb --no-defaults --protocol=socket --socket="${SOCKET}" --user=root "$@"; }

# Read from /proc, not `kill -0`: a server that has exited stays a zombie until it is waited for, and
# `kill -0` still finds a zombie.
running() { local state; state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" && [[ "${state}" != Z ]]; }

start_temporary_server() {
  mariadbd "${server_defaults[@]}" "${server_options[@]}" --skip-networking &
  TEMPORARY_SERVER=$!
  local deadline=$((SECONDS + TEMPORARY_SERVER_TIMEOUT_SECONDS))
  until client_before_password -e 'SELECT 1' >/dev/null 2>&1; do
    running "${TEMPORARY_SERVER}" || err "Unable to start server."
    ((SECONDS < deadline)) || err "Unable to start server: no answer within ${TEMPORARY_SERVER_TIMEOUT_SECONDS} s."
    sleep 0.2
  done
}

set_root_password() {
  # mariadb-install-db also creates root@127.0.0.1, root@::1, root@<hostname> and anonymous accounts;
  # MySQL's --initialize-insecure makes root@localhost only. Left in place, the passwordless
  # root@127.0.0.1 would match the API's TCP login from 127.0.0.1 and refuse its password.
  client_before_password --batch --skip-column-names -e "SELECT CONCAT('DROP USER ', QUOTE(User), '@',
    QUOTE(Host), ';') FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')" |
    client_before_password
  # Unescaped, as in the official entrypoint.
  client_before_password <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
CREATE USER 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
}

# SQL on standard input, as root over the socket, as the official docker_process_sql runs it: in
# MYSQL_DATABASE when that is set (a --database given here comes later, so it wins). Init scripts that
# are sourced call it too.
docker_process_sql() {
  if [[ -n "${MYSQL_DATABASE:-}" ]]; then
    set -- "--database=${MYSQL_DATABASE}" "$@"
  fi
  client --comments "$@"
}

# As the official entrypoint: named unescaped inside backticks, created only if missing.
create_database() {
  [[ -n "${MYSQL_DATABASE:-}" ]] || return 0
  log "Creating database ${MYSQL_DATABASE}"
  docker_process_sql --database=mysql <<<"CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\` ;"
}

run_init_files() {
  # shellcheck disable=SC2034 # "${mysql[@]}": what sourced init scripts may still call, as in the official one
  mysql=(docker_process_sql)
  local file
  for file in "${INIT_DIR}"/*; do
    case "${file}" in
      *.sh)
        if [[ -x "${file}" ]]; then
          log "running ${file}"; "${file}"
        else
          log "sourcing ${file}"; # shellcheck source=/dev/null
          source "${file}"
        fi ;;
      *.sql) log "running ${file}"; docker_process_sql <"${file}" ;;
      *.sql.gz) log "running ${file}"; gunzip -c "${file}" | docker_process_sql ;;
      *) log "ignoring ${file}" ;;
    esac
  done
}

# As the official one: only as root, and only the owning user (fewer writes than chown -R).
create_db_directories() {
  mkdir -p "${DATADIR}"
  if [[ "$(id -u)" == 0 ]]; then
    find "${DATADIR}" \! -user mysql -exec chown mysql '{}' +
  fi
}

initialise() {
  if [[ -z "${MYSQL_ROOT_PASSWORD:-}" ]]; then
    err "Database is uninitialized and password option is not specified
    You need to specify MYSQL_ROOT_PASSWORD (the stand-in supports no other password option)"
  fi
  log "Initializing database files"
  mariadb-install-db --no-defaults --datadir="${DATADIR}" \
    --auth-root-authentication-method=normal --skip-test-db >/dev/null
  log "Starting temporary server"
  start_temporary_server
  set_root_password
  create_database
  run_init_files
  log "Stopping temporary server"
  mariadb-admin --defaults-extra-file=<(root_option_file) --user=root --socket="${SOCKET}" shutdown ||
    err "Unable to shut down server."
  wait "${TEMPORARY_SERVER}" || true
  log "MySQL init process done. Ready for start up."
}

main() {
  if [[ "${1:-}" == -* ]]; then
    set -- mysqld "$@"
  fi
  if [[ "${1:-}" != mysqld ]]; then
    exec "$@"
  fi
  map_options "${@:2}"
  # Options mariadbd does not know stop here, with its own message, before anything is initialised.
  mariadbd "${server_defaults[@]}" "${server_options[@]}" --verbose --help >/dev/null ||
    err "mariadbd refused its options: $*"
  create_db_directories
  if [[ "$(id -u)" == 0 ]]; then
    log "Switching to dedicated user 'mysql'"
    exec gosu mysql "${BASH_SOURCE[0]}" "$@"
  fi
  if [[ ! -d "${DATADIR}/mysql" ]]; then
    initialise
  fi
  exec mariadbd "${server_defaults[@]}" "${server_options[@]}"
}

main "$@"
