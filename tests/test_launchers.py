"""The GPU-grouped submitit launchers (hydra_plugins/drp_bench_launchers) and their presets."""

import json
import os
import stat

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.types import RunMode
from omegaconf import OmegaConf

from drp_bench.methods.contracts import ROLES
from drp_bench.resources import config_dir
from drp_bench.run.sweep_status import sweep_exit_code
from hydra_plugins.drp_bench_launchers.gpu_grouped import (
    DEFAULT_ROLES,
    GpuGroupedLocalLauncher,
    GpuGroupedSlurmLauncher,
    group_jobs,
    job_gpus,
)
from tests.run_folders import write_metrics

REPO = config_dir().parent


def _sweep_jobs(master, overrides):
    """Job overrides of a sweep as Hydra's basic sweeper expands them (with preset params)."""
    params = master.hydra.sweeper.get("params") or {}
    args = list(overrides) + [f"{k}={v}" for k, v in params.items()]
    parsed = OverridesParser.create().parse_overrides(args)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _group_sweep(overrides, loader_overrides=()):
    """Group the jobs of ``drp-bench run -m OVERRIDES`` by GPUs; returns (groups, jobs)."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", overrides=list(loader_overrides), run_mode=RunMode.MULTIRUN
        )
        # as Hydra's sweeper does: each job = the command line's fixed overrides + its values
        jobs = [[*loader_overrides, *job] for job in _sweep_jobs(master, overrides)]
        groups = group_jobs(jobs, lambda ov: loader.load_sweep_config(master, ov))
    return groups, jobs


def _extractor(job):
    return next(o.split("=", 1)[1] for o in job if o.startswith("model@extractor="))


def test_sweep_over_model_sizes_is_grouped_by_tensor_parallel_size_and_backend():
    groups, jobs = _group_sweep(
        [
            "model@extractor=qwen2.5-1.5b-instruct,qwen2.5-32b-instruct,smollm2-135m",
            "model@generator=smollm2-135m",
        ]
    )
    named = {gpus: [_extractor(jobs[p]) for p in pos] for gpus, pos in groups.items()}
    assert named == {
        1: ["qwen2.5-1.5b-instruct"],
        2: ["qwen2.5-32b-instruct"],
        0: ["smollm2-135m"],
    }


def test_paper_table_without_uvq_gives_two_gpus_to_the_32b_extractors_and_one_to_the_rest():
    # 8 extractors x 2 datasets x 2 temperatures
    groups, jobs = _group_sweep(["uvq=false"], loader_overrides=["+experiment=paper_table"])
    assert len(jobs) == 32 and sorted(len(p) for p in groups.values()) == [8, 24]
    assert {_extractor(jobs[p]) for p in groups[2]} == {
        "qwen2.5-32b-instruct",
        "r1-distill-qwen-32b",
    }
    assert set(groups) == {1, 2}


def test_paper_table_with_its_32b_uvq_normaliser_needs_two_gpus_in_every_job():
    groups, jobs = _group_sweep([], loader_overrides=["+experiment=paper_table"])
    assert len(jobs) == 32 and set(groups) == {2} and len(groups[2]) == 32


def test_job_gpus_is_the_max_over_roles_of_gpu_served_models():
    def model(kind, tp=None, options=None):
        return {"backend": {"kind": kind, "options": options or {}}, "tensor_parallel_size": tp}

    cfg = OmegaConf.create(
        {
            "extractor": model("vllm", 2),
            "generator": model("vllm", 1),
            "validator": "${extractor}",
            "summarizer": model("openai", 8),
        }
    )
    assert job_gpus(cfg) == 2
    assert job_gpus(OmegaConf.create({"extractor": model("llamacpp", 4)})) == 0
    assert job_gpus(OmegaConf.create({"extractor": model("vllm")})) == 1  # null: 1 GPU
    # backend.options.tensor_parallel_size overrides the registry value in the vLLM backend
    tp4 = OmegaConf.create({"extractor": model("vllm", 1, {"tensor_parallel_size": 4})})
    assert job_gpus(tp4) == 4
    # an explicit count in the job's config wins
    cfg.gpus_needed = 3
    assert job_gpus(cfg) == 3
    assert job_gpus(cfg, gpus_key="") == 2


def test_job_gpus_names_the_field_of_an_invalid_count():
    bad = OmegaConf.create({"generator": {"backend": {"kind": "vllm"}, "tensor_parallel_size": 0}})
    with pytest.raises(ValueError, match=r"generator\.tensor_parallel_size.*>= 1, found 0"):
        job_gpus(bad)


def test_grouping_roles_are_the_pipelines_roles():
    assert tuple(DEFAULT_ROLES) == tuple(ROLES)


def test_launchers_are_discovered_as_hydra_plugins():
    names = {c.__name__ for c in Plugins.instance().discover(Launcher)}
    assert {"GpuGroupedSlurmLauncher", "GpuGroupedLocalLauncher"} <= names


def _launcher_cfg(overrides):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    return cfg.hydra.launcher


def test_slurm_gpu_preset_extends_the_registered_launcher_config():
    launcher = _launcher_cfg(["hydra/launcher=slurm_gpu", "hydra.launcher.partition=a100"])
    assert launcher._target_.endswith("gpu_grouped.GpuGroupedSlurmLauncher")
    assert launcher.partition == "a100"
    assert (launcher.timeout_min, launcher.cpus_per_gpu, launcher.mem_gb_per_gpu) == (1440, 8, 64)
    assert launcher.gpus_key == "gpus_needed" and launcher.setup
    local = _launcher_cfg(["hydra/launcher=slurm_gpu_local"])
    assert local._target_.endswith("gpu_grouped.GpuGroupedLocalLauncher")
    assert local.enforce_gpus is False


def _params(launcher_cfg):
    params = OmegaConf.to_container(launcher_cfg, resolve=True)
    params.pop("_target_")
    params["submitit_folder"] = "/tmp/unused/%j"
    params["name"] = "drp"
    return params


def test_slurm_groups_get_their_gpus_and_per_gpu_cpus_and_memory_in_the_sbatch_script(
    tmp_path, monkeypatch
):
    # submitit's SLURM executor only checks that `srun` exists; nothing is submitted here.
    srun = tmp_path / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = _launcher_cfg(["hydra/launcher=slurm_gpu", "hydra.launcher.cpu_partition=cpu"])
    launcher = GpuGroupedSlurmLauncher(**_params(cfg))

    def sbatch(gpus):
        params = launcher.group_params(gpus)
        params["submitit_folder"] = str(tmp_path / "%j")
        return launcher._executor(params)._executor._make_submission_file_text("cmd", "uid")

    two = sbatch(2)
    assert "#SBATCH --gpus-per-node=2" in two
    assert "#SBATCH --cpus-per-task=16" in two and "#SBATCH --mem=128GB" in two
    assert "#SBATCH --partition=gpu" in two and "cpus-per-gpu" not in two
    none = sbatch(0)
    assert "gpus-per-node" not in none and "#SBATCH --partition=cpu" in none
    assert "#SBATCH --cpus-per-task=4" in none and "#SBATCH --mem=32GB" in none


def test_local_launcher_records_but_does_not_enforce_gpus_by_default():
    launcher = GpuGroupedLocalLauncher(**_params(_launcher_cfg(["hydra/launcher=slurm_gpu_local"])))
    assert launcher.group_params(2)["gpus_per_node"] is None
    launcher.enforce_gpus = True
    assert launcher.group_params(2)["gpus_per_node"] == 2
    assert launcher.group_params(0)["gpus_per_node"] == 0


def test_gpu_gres_on_top_of_the_grouping_is_rejected():
    cfg = _launcher_cfg(["hydra/launcher=submitit_slurm_gpu_grouped", "hydra.launcher.gres=gpu:1"])
    launcher = GpuGroupedSlurmLauncher(**_params(cfg))
    with pytest.raises(ValueError, match="gres"):
        launcher._check_params()


def _probe_job(cfg):
    """Task of the local multirun: reports which process and GPUs it ran with."""
    out = HydraConfig.get().runtime.output_dir
    with open(os.path.join(out, "ran.txt"), "w") as fh:
        fh.write(cfg.extractor.name)
    return {
        "extractor": cfg.extractor.name,
        "num": HydraConfig.get().job.num,
        "pid": os.getpid(),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "out": out,
    }


@pytest.mark.slow
def test_local_gpu_grouped_multirun_runs_every_job_in_its_own_process(
    hydra_sweep_runner, tmp_path, monkeypatch
):
    # The job processes unpickle _probe_job and the launcher: they import from the repo root.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    extractors = ["qwen2.5-1.5b-instruct", "qwen2.5-32b-instruct", "smollm2-135m"]
    extractors.append("r1-distill-qwen-7b")  # 1 GPU like job 0: groups are not contiguous
    sweep = hydra_sweep_runner(
        calling_file=__file__,
        calling_module=None,
        task_function=_probe_job,
        config_path=str(config_dir()),
        config_name="config",
        overrides=[
            "hydra/launcher=submitit_local_gpu_grouped",
            "hydra.launcher.enforce_gpus=true",
            "hydra.launcher.timeout_min=5",
            f"model@extractor={','.join(extractors)}",
            "model@generator=smollm2-135m",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with sweep:
        [returns] = sweep.returns
        values = [r.return_value for r in returns]
        assert [v["extractor"] for v in values] == [
            "Qwen2.5-1.5B-Instruct",
            "Qwen2.5-32B-Instruct",
            "SmolLM2-135M-Instruct",
            "DeepSeek-R1-Distill-Qwen-7B",
        ]
        assert [v["num"] for v in values] == [0, 1, 2, 3]
        # one process per job, none of them this one
        assert len({v["pid"] for v in values} | {os.getpid()}) == 5
        # each group's gpus_per_node reached its jobs (submitit local: CUDA_VISIBLE_DEVICES)
        assert [v["cuda"] for v in values] == ["0", "0,1", "", "0"]
        for v in values:
            with open(os.path.join(v["out"], "ran.txt")) as fh:
                assert fh.read() == v["extractor"]


def _dying_job(cfg):
    """Task that kills its own process for one model, as an OOM kill or timeout would."""
    if cfg.extractor.name == "SmolLM2-135M-Instruct":
        os._exit(3)
    out = HydraConfig.get().runtime.output_dir
    with open(os.path.join(out, "ran.txt"), "w") as fh:
        fh.write("done")
    write_metrics(out, "complete")
    return cfg.extractor.name


@pytest.mark.slow
def test_a_dead_job_fails_the_sweep_after_the_other_jobs_finished(
    hydra_sweep_runner, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    sweep = hydra_sweep_runner(
        calling_file=__file__,
        calling_module=None,
        task_function=_dying_job,
        config_path=str(config_dir()),
        config_name="config",
        overrides=[
            "hydra/launcher=submitit_local_gpu_grouped",
            "hydra.launcher.timeout_min=5",
            "model@extractor=smollm2-135m,qwen2.5-7b-instruct",
        ],
        temp_dir=tmp_path / "sweep",
    )
    with pytest.raises(RuntimeError, match=r"1 of 2 sweep jobs did not finish:\n  #0: "):
        sweep.__enter__()
    assert (tmp_path / "sweep" / "1_model@extractor=qwen2.5-7b-instruct" / "ran.txt").exists()
    # the sweep's summary is made before the launcher raises (Hydra then skips its callbacks)
    out = capsys.readouterr().out
    assert "Sweep ended: 2 jobs: 1 complete, 0 degraded, 0 failed, 1 interrupted" in out
    saved = json.loads((tmp_path / "sweep" / "sweep_status.json").read_text())
    [dead] = [job for job in saved["jobs"] if job["status"] == "interrupted"]
    assert dead["overrides"] == ["model@extractor=smollm2-135m"]
    assert dead["reason"].startswith("job process died: ")
    assert saved["exit_code"] == 1 and sweep_exit_code("launcher error") == 1
