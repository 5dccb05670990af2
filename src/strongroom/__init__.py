"""Strongroom: encrypted S3 object storage with its own key management."""

__version__ = "0.1.0"
