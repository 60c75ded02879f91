"""Benchmarks: specs expand into cells with content keys; a store holds one record per cell."""
