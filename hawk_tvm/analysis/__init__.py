"""Workload extraction and bottleneck analysis from TensorIR."""
