"""drp-bench's Hydra launcher plugins (found by Hydra in the ``hydra_plugins`` namespace).

``gpu_grouped``: submitit launchers that give each job of a sweep the GPUs its models need
(``hydra/launcher=submitit_slurm_gpu_grouped`` / ``submitit_local_gpu_grouped``).
"""
