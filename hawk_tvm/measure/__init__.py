"""Building and measuring candidates: TVM builders and runners, numerics checks, results as data."""
