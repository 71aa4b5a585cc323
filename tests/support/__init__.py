"""Helpers for the tests that drive a real container engine (podman)."""
