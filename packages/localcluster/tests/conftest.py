"""Enables pytester, used to run the plugin inside a throw-away pytest session."""

pytest_plugins = ["pytester"]
