"""The README's main command: synthetic data, a demo training run, its
evaluation and a SavedModel, each stage reused when its outputs exist.

    python -m training.quickstart
    python -m training.quickstart --count 64 --val-count 16 --epochs 1 \
        --steps-per-epoch 4 --work-dir /tmp/quick      # a tiny smoke run

Stages under `--work-dir`: data/synthetic/ (shards), runs/demo/ (the `demo`
preset run; an interrupted run resumes), runs/demo/export/1 (the SavedModel),
eval/demo/ (PCKh tables and figures). Other flags go to `training.train`.
"""

import dataclasses
import json
import sys
from pathlib import Path

from evaluation import evaluate as evaluation_program
from evaluation.run_directory import load_program_model
from keras_hourglass.serving.export import export_saved_model
from training import make_tfrecords
from training import train as training_program
from training.cli_flags import add_dataclass_flags
from training.cli_flags import option
from training.cli_flags import program_parser
from training.config import parse_config
from training.programs import run_main


@dataclasses.dataclass
class QuickstartConfig:
    """The quickstart's own settings (other flags go to `training.train`)."""

    work_dir: str = option(".", "where data/runs/eval go")
    count: int | None = option(None, "training images", minimum=1)
    val_count: int | None = option(None, "valid images", minimum=1)
    seed: int = option(0, "synthetic data seed", minimum=0)
    epochs: int | None = option(None, minimum=1)
    steps_per_epoch: int | None = option(None, minimum=1)


def parse_arguments(argv=None):
    """Returns (`QuickstartConfig`, extra `training.train` flags)."""
    parser = program_parser("training.quickstart", __doc__.splitlines()[0])
    add_dataclass_flags(parser, QuickstartConfig)
    arguments, extra_flags = parser.parse_known_args(argv)
    return QuickstartConfig(**vars(arguments)), extra_flags


def stage_paths(work_dir):
    """The output folder of each stage."""
    work_dir = Path(work_dir)
    run_dir = work_dir / "runs" / "demo"
    return {
        "data": work_dir / "data" / "synthetic",
        "run": run_dir,
        "final": run_dir / "final.keras",
        "export": run_dir / "export" / "1",
        "eval": work_dir / "eval" / "demo",
    }


def synthetic_data_matches(data_dir, count, val_count, seed):
    """True when `data_dir` holds synthetic shards made with these settings."""
    metadata_path = Path(data_dir) / "dataset.json"
    if not metadata_path.is_file():
        return False
    metadata = json.loads(metadata_path.read_text())
    made_with = metadata.get("created_with", {})
    splits = metadata.get("splits", {})
    return (
        made_with.get("format") == "synthetic"
        and made_with.get("seed") == seed
        and (count is None or splits.get("train", {}).get("count") == count)
        and (val_count is None or splits.get("valid", {}).get("count") == val_count)
    )


def make_data(paths, args):
    """Stage 1: writes the synthetic shards unless matching ones exist."""
    data_dir = paths["data"]
    if synthetic_data_matches(data_dir, args.count, args.val_count, args.seed):
        print(f"reusing the synthetic dataset in {data_dir}")
        return
    argv = ["--format", "synthetic", "--seed", str(args.seed), "--out", str(data_dir)]
    argv += ["--count", str(args.count)] if args.count else []
    argv += ["--val-count", str(args.val_count)] if args.val_count else []
    if data_dir.exists():
        argv.append("--overwrite")
    print(f"== generating synthetic people in {data_dir}")
    make_tfrecords.main(argv)


def training_flags(paths, args, extra_flags):
    """The `training.train` flags of the demo run."""
    flags = ["--preset", "demo", "--data-dir", str(paths["data"])]
    flags += ["--run-dir", str(paths["run"])]
    if args.epochs is not None:
        flags += ["--epochs", str(args.epochs)]
    if args.steps_per_epoch is not None:
        flags += ["--steps-per-epoch", str(args.steps_per_epoch)]
    return flags + list(extra_flags)


def finished_with_same_config(paths, flags):
    """True when `final.keras` exists and config.json is what `flags` give."""
    config_path = paths["run"] / "config.json"
    if not (paths["final"].is_file() and config_path.is_file()):
        return False
    wanted = dataclasses.asdict(parse_config(flags))
    return json.loads(config_path.read_text()) == wanted


def train(paths, flags):
    """Stage 2: trains or resumes the demo run unless finished; True if it did."""
    if finished_with_same_config(paths, flags):
        print(f"reusing the trained model {paths['final']}")
        return False
    print(f"== training the demo preset in {paths['run']}")
    training_program.main(flags)
    return True


def export(paths, just_trained):
    """Stage 3: the SavedModel, unless the training run wrote it."""
    if (paths["export"] / "saved_model.pb").is_file():
        if just_trained:
            print(f"the training run exported the SavedModel {paths['export']}")
        else:
            print(f"reusing the SavedModel {paths['export']}")
        return
    print(f"== exporting {paths['final']}")
    model = load_program_model(paths["final"])
    export_saved_model(model, paths["export"].parent, version=1)


def evaluate(paths):
    """Stage 4: PCKh@0.5 and figures, reused when newer than `final.keras`."""
    results = paths["eval"] / "results.json"
    table = paths["eval"] / "pckh.md"
    if results.is_file() and table.is_file():
        if results.stat().st_mtime >= paths["final"].stat().st_mtime:
            print(f"reusing the evaluation in {paths['eval']}")
            print(table.read_text())
            return
    print(f"== evaluating on the synthetic validation split into {paths['eval']}")
    argv = ["--model", str(paths["run"]), "--data", str(paths["data"])]
    status = evaluation_program.main(argv + ["--out", str(paths["eval"])])
    if status:
        raise SystemExit(f"evaluation failed (status {status})")


def print_locations(paths):
    """Tells the user where every artifact is."""
    print("\nquickstart done:")
    print(f"  data              {paths['data']}")
    print(f"  run (logs, ckpts) {paths['run']}  (tensorboard --logdir "
          f"{paths['run'] / 'logs'})")  # fmt: skip
    print(f"  model             {paths['final']}")
    print(f"  SavedModel        {paths['export']}")
    print(f"  PCKh tables       {paths['eval'] / 'pckh.md'}")
    print(f"  figures           {paths['eval'] / 'figures'}")


def main(argv=None):
    """Runs every stage in order; returns the stage paths."""
    args, extra_flags = parse_arguments(argv)
    paths = stage_paths(args.work_dir)
    make_data(paths, args)
    just_trained = train(paths, training_flags(paths, args, extra_flags))
    export(paths, just_trained)
    evaluate(paths)
    print_locations(paths)
    return paths


if __name__ == "__main__":
    sys.exit(run_main(main))
