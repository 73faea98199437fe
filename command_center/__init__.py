"""Command Center: the application (hub, domain, API, composition)."""

__version__ = "0.1.0"
