"""One run from config to folder: its inputs, its execution, its metrics.json, its run folder's
files and a sweep's status. Readers of a run folder import :mod:`drp_bench.run.folder` only."""
