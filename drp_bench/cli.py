"""`drp-bench` command: thin dispatch to library functions.

drp-bench run [HYDRA OVERRIDES]    one run (or a sweep with -m), configs in conf/
drp-bench plan [-m] [HYDRA OVERRIDES]   calls, tokens and GPU-hours of a run or sweep
drp-bench data build|check ...     build / validate DPL-layout data
drp-bench report DIR [DIR ...]     tables and plots from run folders
drp-bench annotate build|score ... a human study of runs: build it, score its annotations
drp-bench cache stats|clear        the persistent call cache
drp-bench export-lmeval RUN --out DIR   a run's generation prompts as an lm-eval task
drp-bench import-lmeval RESULTS_DIR --out DIR   an lm-eval output folder as a run folder
drp-bench submit RUN_DIR           a run as a leaderboard entry (checked and recomputed)
drp-bench leaderboard verify|register-split|reproduce|build ...   the leaderboard
drp-bench setup                    offline NLTK data for METEOR
"""

from __future__ import annotations

import sys

USAGE = __doc__ or ""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE.strip())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "--version":
        from drp_bench import __version__

        print(__version__)
        return 0
    if command == "run":
        try:
            return _run(rest)
        except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM turned into Interrupted
            code = getattr(stop, "exit_code", 130)
            print(
                "drp-bench run: interrupted; finished calls are in the call cache and the "
                "same command resumes from them (see error.json in the run folder)",
                file=sys.stderr,
            )
            return code
    if command == "plan":
        from drp_bench.plan.cli import main as plan_main

        return plan_main(rest)
    if command == "data":
        from drp_bench.data.cli import main as data_main

        return data_main(rest)
    if command in {"report", "plot"}:
        from drp_bench.report.cli import main as report_main

        return report_main(rest)
    if command == "annotate":
        from drp_bench.annotate.cli import main as annotate_main

        return annotate_main(rest)
    if command == "cache":
        from drp_bench.backends.cache_cli import main as cache_main

        return cache_main(rest)
    if command == "export-lmeval":
        from drp_bench.integrations.lmeval_export import main as lmeval_main

        return lmeval_main(rest)
    if command == "import-lmeval":
        from drp_bench.integrations.lmeval_import import main as import_main

        return import_main(rest)
    if command == "submit":
        from drp_bench.leaderboard.cli import submit_main

        return submit_main(rest)
    if command == "leaderboard":
        from drp_bench.leaderboard.cli import main as leaderboard_main

        return leaderboard_main(rest)
    if command == "setup":
        from drp_bench.metrics.nltk_data import install_nltk_data

        print(f"NLTK data ready in {install_nltk_data()}")
        return 0
    print(f"drp-bench: unknown command {command!r}\n\n{USAGE.strip()}", file=sys.stderr)
    return 2


def _run(overrides: list[str]) -> int:
    from drp_bench.resources import config_dir

    if not (config_dir() / "config.yaml").is_file():
        print(
            f"drp-bench: config folder {config_dir()} not found: the installation is broken "
            "(reinstall drp-bench)",
            file=sys.stderr,
        )
        return 2
    from drp_bench.run import sweep_status
    from drp_bench.run.hydra_app import run_app

    sys.argv = ["drp-bench run", *overrides]
    sweep_status.reset()
    try:
        run_app()
    except SystemExit:  # Hydra exits 1 after an error; a sweep's summary decides, if it has one
        code = sweep_status.sweep_exit_code("the launcher or sweeper stopped with an error")
        if code is None:
            raise
        return code
    except KeyboardInterrupt:  # a sweep's summary so far, then the usual interrupt handling
        sweep_status.sweep_exit_code("interrupted")
        raise
    except Exception as exc:  # hydra.run.dir holds ${dataset.name}: a refused name fails there
        refused = _dataset_name_error(exc)
        if refused is None:
            raise
        print(f"drp-bench run: error: {refused}", file=sys.stderr)
        return 2
    # @hydra.main swallows return values: a multirun's verdict comes from its callback
    code = sweep_status.sweep_exit_code()
    return 0 if code is None else code


def _dataset_name_error(exc: BaseException) -> str | None:
    """The message of the :class:`DatasetNameError` behind ``exc``, if any. OmegaConf wraps it
    as ``DatasetNameError raised while resolving interpolation: ...`` and Hydra, re-raising
    when a run-dir error defeats its traceback formatting, replaces the exception's context."""
    from drp_bench.data.naming import DatasetNameError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DatasetNameError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    marker = f"{DatasetNameError.__name__} raised while resolving interpolation: "
    text = str(exc)
    return text[text.index(marker) + len(marker) :].splitlines()[0] if marker in text else None


if __name__ == "__main__":
    raise SystemExit(main())
