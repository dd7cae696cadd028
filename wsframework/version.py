"""The package version (``wsframework.version`` / ``wsframework.__version__``)."""

version = "0.1.0"
__version__ = version
