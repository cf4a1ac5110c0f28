"""The leaderboard: entries submitted from run folders, verified by recomputing every score.

``submit`` turns a run folder into an entry, ``verify`` checks entries, ``reproduce`` re-runs
one, ``build`` renders ``results/leaderboard/README.md`` and ``index.html``.
"""
