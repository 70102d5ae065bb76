"""Reruns the paper's ablations: trains each variant, evaluates it, compares them.

    python -m evaluation.ablation --study stacks --data data/mpii --out ablations/
    python -m evaluation.ablation --quick --out ablations/quick    # CPU

Studies (Newell et al. 2016, sec. 5.2): `supervision` (Fig. 8), 2 and 8
stacks with and without intermediate supervision, and one hourglass with twice
the residual modules; `stacks` (Fig. 9 right), 2, 4 and 8 stacks with
`n_modules = 8 / n_stacks` (about equal parameter counts). A variant whose
`final.keras` exists is not trained again, so an interrupted study resumes.
`--quick` shows the machinery and the direction of the effects at a CPU budget,
not the paper's experiment. Files and figures: docs/evaluation.md.
"""

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation import plots
from evaluation.report import dataframe_to_markdown
from evaluation.report import write_table_csv
from keras_hourglass.files import read_json
from keras_hourglass.files import write_text_atomically
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.programs import installed_namespace
from training.programs import run_main

STUDIES = {
    "supervision": {
        "1hg-2mod": {"n_stacks": 1, "n_modules": 2},
        "2hg": {"n_stacks": 2, "intermediate_supervision": False},
        "2hg-int": {"n_stacks": 2, "intermediate_supervision": True},
        "8hg": {"n_stacks": 8, "intermediate_supervision": False},
        "8hg-int": {"n_stacks": 8, "intermediate_supervision": True},
    },
    "stacks": {
        f"{stacks}hg": {"n_stacks": stacks, "n_modules": 8 // stacks}
        for stacks in (2, 4, 8)
    },
}
QUICK_VARIANTS = {
    "supervision": ("1hg-2mod", "2hg", "2hg-int"),
    "stacks": ("2hg", "4hg", "8hg"),
}
# Depth 2 at 64 px (16 px heatmaps): on a CPU the 8-hourglass-deep variants
# are bound by per-layer cost, which fewer levels cut in tracing and in steps.
QUICK_TRAIN_ARGS = (
    "--n-features 32 --depth 2 --input-size 64 --output-size 16 "
    "--epochs 3 --steps-per-epoch 100 --lr-drop-epochs 3 --no-export"
)


def python_module(name):
    """`python -m` of program `name` (the wheel has no top-level `training`)."""
    namespace = installed_namespace()
    return [sys.executable, "-m", f"{namespace}.{name}" if namespace else name]


def variant_flags(settings):
    """Turns `{"n_stacks": 2, "intermediate_supervision": False}` into flags."""
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags


def study_commands(
    study, data, out, preset="paper", train_args="", eval_args="", variants=None
):
    """{variant: (train command, evaluate command)} (only `variants`, if given)."""
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; choose one of {sorted(STUDIES)}")
    commands = {}
    for variant, settings in STUDIES[study].items():
        if variants is not None and variant not in variants:
            continue
        run_dir = Path(out) / variant
        train = [*python_module("training.train"), "--preset", preset,
                 "--data-dir", str(data), "--run-dir", str(run_dir),
                 *variant_flags(settings), *shlex.split(train_args)]  # fmt: skip
        evaluate = [*python_module("evaluation.evaluate"), "--model", str(run_dir),
                    "--data", str(data), "--out", str(run_dir / "eval"),
                    *shlex.split(eval_args)]  # fmt: skip
        commands[variant] = (train, evaluate)
    return commands


def comparison_table(out, variants):
    """One row per evaluated variant: its final mean and every stack's mean."""
    rows = {}
    for variant in variants:
        results_path = Path(out) / variant / "eval" / "results.json"
        results = read_json(results_path, f"results of variant {variant}")
        rows[variant] = {"Mean": results["mean"], **results["per_stack_mean"]}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("Variant")
    stacks = sorted((c for c in table.columns if c != "Mean"), key=stack_number)
    return table[["Mean", *stacks]]


def stack_number(column):
    """`"stack3"` -> 3."""
    return int(column.removeprefix("stack"))


def write_comparison(out, variants):
    """Writes the comparison tables and the training-curves figure."""
    out = Path(out)
    table = comparison_table(out, variants)
    write_text_atomically(out / "comparison.md", dataframe_to_markdown(table))
    write_table_csv(table, out / "comparison.csv")
    logs = {v: out / v / "training_log.csv" for v in variants}
    logs = {v: log for v, log in logs.items() if log.is_file()}
    if logs:
        plots.plot_training_curves(logs, out / "training_curves")
    stack_columns = [column for column in table.columns if column != "Mean"]
    # Keyed by stack number: a variant without intermediate supervision has
    # only its last stack's accuracy, which belongs at that stack.
    per_stack = {
        variant: {
            stack_number(column): value
            for column, value in row[stack_columns].items()
            if value == value
        }
        for variant, row in table.iterrows()
    }
    plots.plot_stack_accuracy_by_variant(per_stack, "PCKh", out / "stack_accuracy")
    return table


def run_study(commands, out, dry_run=False):
    """Trains (unless already trained) and evaluates every variant in turn."""
    for variant, (train, evaluate) in commands.items():
        trained = (Path(out) / variant / "final.keras").is_file()
        for command in ([] if trained else [train]) + [evaluate]:
            print(f"[{variant}] {shlex.join(command)}", flush=True)
            if not dry_run:
                subprocess.run(command, check=True)


def ensure_synthetic_data(data):
    """Generates the built-in synthetic shards into `data` when missing."""
    if (Path(data) / "dataset.json").is_file():
        return
    command = [*python_module("training.make_tfrecords"), "--format", "synthetic",
               "--out", str(data)]  # fmt: skip
    print(f"[data] {shlex.join(command)}", flush=True)
    subprocess.run(command, check=True)


def plan_studies(args):
    """{output folder: commands} of the parsed arguments."""
    studies = sorted(STUDIES) if args.study == "all" else [args.study]
    preset, train_args = args.preset, args.train_args
    if args.quick:
        preset, train_args = "demo", f"{QUICK_TRAIN_ARGS} {args.train_args}"
    plans = {}
    for study in studies:
        out = Path(args.out) / study if args.study == "all" else Path(args.out)
        variants = QUICK_VARIANTS[study] if args.quick else None
        plans[out] = study_commands(
            study, args.data, out, preset, train_args, args.eval_args, variants
        )
    return plans


@dataclass
class AblationConfig:
    """Which studies to run, on which data, into which folder."""

    study: str | None = option(None, "", [*sorted(STUDIES), "all"])
    data: str | None = option(None, "shard folder")
    out: str = option("", "folder for every variant")
    preset: str = option("paper", "training preset")
    train_args: str = option("", "extra training flags")
    eval_args: str = option("", "extra evaluation flags")
    quick: bool = option(False, "both studies, small, synthetic data, CPU")
    dry_run: bool = option(False, "print commands")


def main(argv=None):
    """Runs the command; returns the process exit status."""
    parser = program_parser("evaluation.ablation", __doc__.split("\n")[0])
    add_dataclass_flags(parser, AblationConfig, required=("out",))
    args = AblationConfig(**vars(parser.parse_args(argv)))
    if args.study is None and not args.quick:
        parser.error("give --study (or --quick)")
    args.study = args.study or "all"
    args.data = args.data or ("data/synthetic" if args.quick else "data/mpii")
    plans = plan_studies(args)
    try:
        if args.quick and not args.dry_run:
            ensure_synthetic_data(args.data)
        for out, commands in plans.items():
            run_study(commands, out, args.dry_run)
    except subprocess.CalledProcessError as error:
        print(f"error: {shlex.join(error.cmd)} exited with {error.returncode}",
              file=sys.stderr)  # fmt: skip
        return 1
    if not args.dry_run:
        for out, commands in plans.items():
            print(f"== {out}")
            print(write_comparison(out, list(commands)).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
