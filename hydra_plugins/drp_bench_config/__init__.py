"""drp-bench's Hydra setup, done whenever Hydra starts (Hydra imports every module of the
``hydra_plugins`` namespace when it scans for plugins): the run config's schema in Hydra's
ConfigStore (:mod:`drp_bench.config.schema`) and drp-bench's OmegaConf resolvers
(:mod:`drp_bench.config.resolvers`). So a config composed with Hydra's own compose API, in a
test or a notebook, composes and resolves as under ``drp-bench run``.
"""

from drp_bench.config.resolvers import register_resolvers
from drp_bench.config.schema import register as register_schema

register_schema()
register_resolvers()
