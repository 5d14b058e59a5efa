"""log-sidecar: follow a workload's logs and stream them live to a browser."""

__version__ = "0.1.0"
