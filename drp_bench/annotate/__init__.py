"""Human studies of finished runs (issue 19; docs/annotate.md).

``annotate build`` turns run folders into a blinded study folder (tasks, a hidden key, a
self-contained annotation page); ``annotate score`` reads the annotators' exported files and
reports agreement, the LLM validator against people, and preferences. The file formats every
part shares are in :mod:`drp_bench.annotate.formats`.
"""
