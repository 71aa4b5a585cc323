"""Entry point: `uvicorn main:server`, exactly as the Dockerfile and the manifests run it."""

import sys

from userapi.app import create_app
from userapi.config import SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as error:
    # One line on stderr and exit status 1, instead of a traceback from inside uvicorn's import.
    sys.exit(f"user-api: {error}")

server = create_app(settings)
