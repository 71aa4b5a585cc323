"""`make run`: a private MariaDB seeded from scripts/sql, and the API on http://127.0.0.1:8000.

The two processes play the Pod's two containers: the API reaches the database on 127.0.0.1.
Ctrl-C or SIGTERM stops both; nothing is left running.
"""

import os
import secrets
import signal
import sys
import time

from devstack.api import ApiProcess
from devstack.mariadb import MariaDBMissing, MariaDBServer
from devstack.ports import port_in_use

API_PORT = int(os.environ.get("PORT", "8000"))
DB_PORT = int(os.environ.get("DB_PORT", "3306"))


def log(message: str) -> None:
    print(f"run: {message}", file=sys.stderr, flush=True)


def check_ports_free() -> None:
    for name, variable, port in (("API", "PORT", API_PORT), ("database", "DB_PORT", DB_PORT)):
        if port_in_use(port):
            sys.exit(
                f"run: port {port} for the {name} is already in use; "
                f"stop what holds it or choose another with {variable}=<port> make run"
            )


def main() -> int:
    check_ports_free()
    # A fresh random password each run unless one is given: the password path is always exercised.
    password = os.environ.get("MYSQL_PASSWORD") or secrets.token_urlsafe(16)
    stopping = False

    def request_stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        database = MariaDBServer(password, port=DB_PORT)
    except MariaDBMissing as error:
        sys.exit(f"run: {error}")
    api = ApiProcess(database.env(), port=API_PORT, show_output=True)
    try:
        database.start()
        log(f"MariaDB, the stand-in for the MySQL sidecar, on 127.0.0.1:{DB_PORT}")
        api.start()
        log(f"User API on {api.base_url}  (docs: {api.base_url}/docs). Ctrl-C stops both.")
        while not stopping and api.running() and database.running():
            time.sleep(0.2)
        if not stopping:
            log("a process exited on its own; stopping the other")
            return 1
        return 0
    finally:
        log("stopping the API and the database")
        api.stop()
        database.remove()


if __name__ == "__main__":
    sys.exit(main())
