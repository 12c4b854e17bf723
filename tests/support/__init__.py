"""Shared test support: documents, fixtures and readers used by several test modules."""
