"""Provider adapters, one module each, looked up by slug in `registry`."""
