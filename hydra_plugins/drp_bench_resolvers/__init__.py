"""drp-bench's OmegaConf resolvers, registered whenever Hydra starts (Hydra imports every module
in the ``hydra_plugins`` namespace when it scans for plugins), so a config composed with
Hydra's compose API resolves as under ``drp-bench run``: ``${drp_safe_dirname:...}`` (sweep job
folders) and ``${drp_dataset_name:...}`` (the dataset presets' names, drp_bench.data.naming).
"""

from drp_bench.sweep_status import register_resolvers

register_resolvers()
