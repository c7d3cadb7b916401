"""Shared set-up for the project's own tests."""

pytest_plugins = ["pytester"]
