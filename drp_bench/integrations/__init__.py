"""Bridges to other harnesses: lm-evaluation-harness tasks out, its results folders in."""
