"""Benchmarks: memory, speed and accuracy of the worker against the PaddleOCR baseline."""
