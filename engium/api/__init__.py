"""Shared API plumbing: errors, parsers, pagination, filters."""
