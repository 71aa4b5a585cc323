"""Local stand-ins for what a Pod gives the API: a private MariaDB and the API process itself.

Shared by `make run`, the tests and the benchmark, so all three run the service the same way.
"""

from pathlib import Path

# The checkout: every path the scripts and the tests use is relative to it.
ROOT = Path(__file__).resolve().parents[2]
