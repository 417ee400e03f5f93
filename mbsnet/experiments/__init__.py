"""Experiments that measure the library: scan benchmarks and studies, the optimization ladder."""
