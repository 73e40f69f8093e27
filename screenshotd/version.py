"""The version of screenshotd: one place, read by pyproject.toml, the CLI, /health and the
User-Agent of the server's own requests."""

__version__ = "0.1.0"
