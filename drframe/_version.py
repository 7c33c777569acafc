"""The one version string of drframe (pyproject.toml reads it as its dynamic version)."""

__version__ = "0.2.0"
