"""Crash-safe `model.fit` at step granularity: back up, then resume mid-epoch
(Keras' `BackupAndRestore` restarts an interrupted epoch at step 0).

    run_dir/backup/latest.json           which checkpoint is current
    run_dir/backup/step-00000042/        model.weights.h5 + state.json

`StepBackup` writes the weights, optimizer state and `state.json` (epoch,
steps done, global step, counters of callbacks spanning epochs) every N steps
and after every epoch; `plan_fit_calls` turns it into a `fit` that finishes
the interrupted epoch, then the usual `fit`.
"""

import csv
import io
import json
import math
import numbers
import re
import shutil
from pathlib import Path

import keras

from keras_hourglass.files import write_json_atomically
from keras_hourglass.files import write_text_atomically
from keras_hourglass.saving import DamagedFileError
from keras_hourglass.saving import check_weights_file
from training.builders import build_model
from training.builders import compile_model
from training.config import ConfigError
from training.config import load_config
from training.config import save_config
from training.finetune import describe_transfer
from training.finetune import initialize_from

POINTER_FILE = "latest.json"
STATE_FILE = "state.json"
WEIGHTS_FILE = "model.weights.h5"
CHECKPOINT_NAME = re.compile(r"step-\d+")
# Attributes of stock callbacks that must survive a restart (and the second
# `fit` call of the same process, since `ReduceLROnPlateau` resets them).
PERSISTED_ATTRIBUTES = (
    (keras.callbacks.ReduceLROnPlateau, ("wait", "best", "cooldown_counter")),
    (keras.callbacks.ModelCheckpoint, ("best",)),
)


def plan_fit_calls(start_epoch, steps_done, epochs, steps_per_epoch):
    """The `fit` calls (`initial_epoch`, `epochs`, `steps_per_epoch`,
    `step_offset`: steps of its first epoch done before it) that finish
    training from zero-based `start_epoch` with `steps_done` steps trained."""
    if not 0 <= steps_done < steps_per_epoch:
        raise ValueError(
            f"the backup is at step {steps_done} of an epoch of "
            f"{steps_per_epoch} steps; was steps_per_epoch changed?"
        )
    calls = []
    if steps_done and start_epoch < epochs:
        calls.append(
            {"initial_epoch": start_epoch, "epochs": start_epoch + 1,
             "steps_per_epoch": steps_per_epoch - steps_done,
             "step_offset": steps_done}
        )  # fmt: skip
        start_epoch += 1
    if start_epoch < epochs:
        calls.append(
            {"initial_epoch": start_epoch, "epochs": epochs,
             "steps_per_epoch": steps_per_epoch, "step_offset": 0}
        )  # fmt: skip
    return calls


def read_backup(backup_dir):
    """The current backup's state dict (with `weights`, its file), or None
    when there is none (ValueError for a damaged one)."""
    pointer = Path(backup_dir) / POINTER_FILE
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["checkpoint"]
        checkpoint = checkpoint_inside(backup_dir, name)
        state = json.loads((checkpoint / STATE_FILE).read_text())
        for key in ("epoch", "steps_done", "steps_per_epoch", "global_step"):
            if isinstance(state[key], bool) or not isinstance(state[key], int):
                raise TypeError(f"{STATE_FILE} field {key!r} is {state[key]!r}")
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{pointer}: unreadable backup ({error}); delete {backup_dir} to "
            "start the run again"
        ) from None
    state["weights"] = str(checkpoint / WEIGHTS_FILE)
    return state


def checkpoint_inside(backup_dir, name):
    """The checkpoint folder `name` of `backup_dir`, refused if it leads out."""
    backup_dir = Path(backup_dir)
    if not isinstance(name, str) or not CHECKPOINT_NAME.fullmatch(name):
        raise ValueError(
            f"{backup_dir / POINTER_FILE} names {name!r}, not a checkpoint folder "
            f"of {backup_dir} (step-<number>); refusing to read outside the backup"
        )
    checkpoint = backup_dir / name
    if checkpoint.resolve().parent != backup_dir.resolve():
        raise ValueError(
            f"{checkpoint} leads outside {backup_dir}; refusing to read it"
        )
    return checkpoint


# The flags a backup depends on: its weight and optimizer shapes, epoch length.
RESUME_FIELDS = (
    "n_stacks", "n_features", "n_modules", "depth", "input_size", "output_size",
    "intermediate_supervision", "optimizer", "precision", "batch_size",
    "steps_per_epoch",
)  # fmt: skip


def flags_changed_since_start(config, run_dir):
    """`(flag, started with, now)` for each `RESUME_FIELDS` value that differs
    from the run's config.json (none when it has no readable one)."""
    try:
        started = load_config(Path(run_dir) / "config.json")
    except ConfigError:
        return []
    return [
        (f"--{name.replace('_', '-')}", getattr(started, name), getattr(config, name))
        for name in RESUME_FIELDS
        if getattr(started, name) != getattr(config, name)
    ]


def restore_run_backup(model, config, paths, steps_per_epoch, trim_log=True):
    """Loads the run's backup into compiled `model` when there is one; returns
    its state (None for a fresh run) and, with `trim_log`, trims the CSV rows
    it will redo. A backup that no longer fits because flags changed is
    refused naming them: dropping them resumes, deleting would lose the run."""
    state = read_backup(paths["backup"])
    if state is None:
        if trim_log:
            trim_csv_log(paths["csv"], 0)  # rows of an attempt that left no backup
        return None
    try:
        if state["steps_per_epoch"] != steps_per_epoch:
            raise ConfigError(
                f"{paths['backup']} was written with {state['steps_per_epoch']} "
                f"steps per epoch, now {steps_per_epoch}; use the same config or "
                "delete the backup"
            )
        restore_weights(model, state)
    except (ConfigError, DamagedFileError) as error:
        changed = flags_changed_since_start(config, config.run_dir)
        if not changed:
            raise
        started = ", ".join(f"{flag} {old}" for flag, old, _ in changed)
        now = ", ".join(f"{flag} {new}" for flag, _, new in changed)
        flags = " ".join(flag for flag, _, _ in changed)
        raise ConfigError(
            f"{paths['backup']} cannot resume: this run was started with "
            f"{started} (now {now}); drop {flags} to resume it, or pass another "
            "--run-dir to start a new run"
        ) from error
    if trim_log:
        trim_csv_log(paths["csv"], state["epoch"])
    print(
        f"resuming from {paths['backup']}: epoch {state['epoch'] + 1}, "
        f"{state['steps_done']} of {steps_per_epoch} steps done "
        f"(global step {state['global_step']})"
    )
    return state


def start_or_resume_model(config, num_joints, strategy, paths, steps_per_epoch,
                          chief=True):  # fmt: skip
    """Builds and compiles the run's model under `strategy` (where the
    restored optimizer slots must live), from `--init-from` when fresh, and
    restores its backup; returns `(model, resume state or {})`. Only the
    `chief` writes, and config.json only after the restore succeeded."""
    keras.mixed_precision.set_dtype_policy(config.precision)  # before the model
    with strategy.scope():
        model = build_model(config, num_joints)
        if config.init_from and not (paths["backup"] / POINTER_FILE).is_file():
            # Only a fresh run: a resumed one keeps the weights it trained.
            report = initialize_from(model, config.init_from)
            if chief:
                print(describe_transfer(report, config.init_from))
        model = compile_model(model, config)
        state = restore_run_backup(
            model, config, paths, steps_per_epoch, trim_log=chief
        )  # fmt: skip
    if chief:
        save_config(config, paths["config"])
    return model, state or {}


def restore_weights(model, state):
    """Loads the backup's weights and optimizer state into a compiled model."""
    if model.optimizer is not None and not model.optimizer.built:
        # Optimizer slots must exist before their values can be loaded.
        model.optimizer.build(model.trainable_variables)
    backup_dir = Path(state["weights"]).parent.parent
    advice = (
        f"the backup cannot be resumed: delete {backup_dir} to train this run "
        "again from its first epoch (checkpoints/latest.keras keeps the model of "
        "the last finished epoch)"
    )
    check_weights_file(state["weights"], advice)
    try:
        model.load_weights(state["weights"])
    except (OSError, ValueError, KeyError) as error:
        raise DamagedFileError(f"{state['weights']}: {error}; {advice}") from None


def write_backup(model, backup_dir, state):
    """Writes `step-<global step>/`, points `latest.json` at it atomically (a
    kill leaves the previous or the new backup), then removes older ones."""
    backup_dir = Path(backup_dir)
    name = f"step-{state['global_step']:08d}"
    checkpoint = backup_dir / name
    shutil.rmtree(checkpoint, ignore_errors=True)
    checkpoint.mkdir(parents=True)
    model.save_weights(checkpoint / WEIGHTS_FILE)
    write_json_atomically(checkpoint / STATE_FILE, state, indent=1)
    write_json_atomically(backup_dir / POINTER_FILE, {"checkpoint": name})
    for old in backup_dir.glob("step-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def read_csv_log(csv_path):
    """`(header, rows, damaged)` of a CSV training log: whole rows as dicts
    with an integer "epoch", and how many damaged lines were left out."""
    lines = Path(csv_path).read_text(errors="replace").splitlines(keepends=True)
    damaged = 0
    if lines and not lines[-1].endswith("\n"):
        lines, damaged = lines[:-1], 1  # the last row was being written
    parsed = list(csv.reader(lines))
    if not parsed or "epoch" not in parsed[0]:
        return [], [], damaged + len(parsed)
    header, rows = parsed[0], []
    for cells in parsed[1:]:
        row = dict(zip(header, cells))
        try:
            if len(cells) != len(header):
                raise ValueError("wrong number of cells")
            row["epoch"] = int(row["epoch"])
        except ValueError:
            damaged += 1  # a repeated header or a damaged line
            continue
        rows.append(row)
    return header, rows, damaged


def trim_csv_log(csv_path, first_epoch_to_drop):
    """Drops CSV log rows of epochs the resumed run trains again, and damaged
    lines (atomically); returns how many epoch rows were dropped."""
    csv_path = Path(csv_path)
    if not csv_path.is_file() or not csv_path.stat().st_size:
        return 0
    header, rows, damaged = read_csv_log(csv_path)
    kept = [row for row in rows if row["epoch"] < first_epoch_to_drop]
    if len(kept) == len(rows) and not damaged:
        return 0
    if damaged:
        print(f"warning: {csv_path}: left out {damaged} damaged line(s)")
    text = io.StringIO()
    if header:
        # The excel dialect, as Keras' CSVLogger writes it.
        writer = csv.DictWriter(text, fieldnames=header)
        writer.writeheader()
        writer.writerows(kept)
    write_text_atomically(csv_path, text.getvalue())
    return len(rows) - len(kept)


def logs_are_finite(logs):
    """True unless the logged loss is NaN or infinite."""
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class StepBackup(keras.callbacks.Callback):
    """Backs up every `every_steps` steps and after every epoch, with the
    counters of `tracked_callbacks` ({name: callback}); `state` is what
    `read_backup` read. LAST in the callback list, to save the others' state."""

    def __init__(
        self, backup_dir, every_steps, steps_per_epoch, tracked_callbacks, state=None
    ):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch
        self.tracked_callbacks = tracked_callbacks
        state = state or {}
        self.global_step = state.get("global_step", 0)
        self.callback_state = state.get("callbacks", {})
        self.epoch, self.step_in_epoch, self.step_offset = 0, 0, 0

    def start_fit_call(self, step_offset):
        """Call before each `fit`: steps of its first epoch already done."""
        self.step_offset = step_offset

    def on_train_begin(self, logs=None):
        # After the other callbacks' own on_train_begin (which reset them).
        for name, values in self.callback_state.items():
            for attribute, value in values.items():
                setattr(self.tracked_callbacks[name], attribute, value)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.step_in_epoch = self.step_offset
        self.step_offset = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step_in_epoch += 1
        self.global_step += 1
        # The last step's backup is the epoch-end one (after validation).
        due = self.step_in_epoch % self.every_steps == 0
        if due and self.step_in_epoch < self.steps_per_epoch and logs_are_finite(logs):
            self.save(self.epoch, self.step_in_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs_are_finite(logs) and not getattr(self.model, "stop_training", False):
            self.save(epoch + 1, 0)

    def capture_callback_state(self):
        """Returns {name: {attribute: value}} of the tracked callbacks."""
        return {
            name: {
                attribute: _plain(getattr(callback, attribute))
                for attribute in persisted_attributes(callback)
            }
            for name, callback in self.tracked_callbacks.items()
        }

    def save(self, epoch, steps_done):
        """Writes a backup at (`epoch`, `steps_done` steps into it)."""
        self.callback_state = self.capture_callback_state()
        state = {
            "epoch": epoch,
            "steps_done": steps_done,
            "steps_per_epoch": self.steps_per_epoch,
            "global_step": self.global_step,
            "learning_rate": float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            ),
            "callbacks": self.callback_state,
        }
        write_backup(self.model, self.backup_dir, state)

    def on_train_end(self, logs=None):
        self.callback_state = self.capture_callback_state()


def persisted_attributes(callback):
    """The attribute names of `callback` that a backup keeps."""
    for kind, attributes in PERSISTED_ATTRIBUTES:
        if isinstance(callback, kind):
            return attributes
    raise TypeError(f"no persisted state known for {type(callback).__name__}")


def _plain(value):
    """A JSON-friendly Python number from a NumPy / tensor scalar (or None)."""
    if value is None:
        return None
    return int(value) if isinstance(value, numbers.Integral) else float(value)
