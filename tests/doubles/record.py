"""Shared by the TEST DOUBLES in this folder (kubectl, docker, kind, k3s, k3d, minikube): the call log that
the tests read, and how a double reports a call it refuses. Kept to json, os and sys: every double imports
it at start-up, many times a test.

Every call is appended to the file named by DOUBLES_LOG as one JSON object per line:
  {"tool": "kind", "args": ["load", "image-archive", ...], ...details}
"""

import json
import os
import sys


def record(tool: str, args: list[str], **details) -> None:
    if "DOUBLES_LOG" in os.environ:
        with open(os.environ["DOUBLES_LOG"], "a") as log:
            log.write(json.dumps({"tool": tool, "args": args, **details}) + "\n")


def fail(tool: str, message: str) -> int:
    print(f"{tool} test double: {message}", file=sys.stderr)
    return 1
