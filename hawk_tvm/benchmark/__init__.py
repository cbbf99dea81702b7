"""Operator benchmark harness: suite, baselines, final timing and checks, metrics, reports and plots."""
