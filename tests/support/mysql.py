"""Database-side helpers for tests that act on the database behind the API's back."""

import MySQLdb

from support.canary import DB_PASSWORD


class TableLock:
    """A second session holding LOCK TABLES Users WRITE, as a long migration or backup would."""

    def __init__(self, database):
        self._connection = MySQLdb.connect(
            host=database.host, port=database.port, user="root", password=DB_PASSWORD, database="Main"
        )

    def __enter__(self):
        self._connection.cursor().execute("LOCK TABLES Users WRITE")
        return self

    def __exit__(self, *exc_info):
        self._connection.cursor().execute("UNLOCK TABLES")
        self._connection.close()
