"""A tenant app for `bench.tenants` only: its migrations are written by the benchmark, so
that it can time a real one-column migration over every tenant."""
