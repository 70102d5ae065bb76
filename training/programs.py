"""The console programs the wheel installs, and how every program runs.

`setup.py` reads this file by path (standard library only: building the wheel
needs no TensorFlow). Each entry point runs its program under the module name
`python -m` uses, so every module loads once either way. `run_main` turns a
user's mistake or a file-system failure (a full disk, a read-only folder) into
one line and exit status 2.
"""

import errno
import importlib
import shlex
import signal
import sys
import threading

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
# TensorFlow's file ops report a full disk as this error class (not an OSError).
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")

# Console script -> (module run by `python -m` from a checkout, what it does).
PROGRAMS = {
    "hourglass-make-tfrecords": (
        "training.make_tfrecords",
        "convert MPII, LSP, COCO, CSV or synthetic data to TFRecord shards",
    ),
    "hourglass-train": ("training.train", "train a network on TFRecord shards"),
    "hourglass-export": (
        "training.export",
        "export a trained model as a SavedModel, LiteRT or ONNX file for serving",
    ),
    "hourglass-convert-weights": (
        "training.convert_weights",
        "convert a published PyTorch hourglass checkpoint to a .keras model",
    ),
    "hourglass-quickstart": (
        "training.quickstart",
        "synthetic data, a demo training run, its evaluation and export",
    ),
    "hourglass-evaluate": (
        "evaluation.evaluate",
        "PCKh tables, predictions and figures of a model on a validation split",
    ),
    "hourglass-predict": (
        "evaluation.predict",
        "keypoints and overlays for images or a video, from a model or a URL",
    ),
    "hourglass-pckh": (
        "evaluation.pckh",
        "score a prediction file against ground truth (the paper's table)",
    ),
    "hourglass-ablation": (
        "evaluation.ablation",
        "train and compare the paper's ablation variants",
    ),
}


def entry_point_name(script):
    """The function of `training.programs` behind a console script:
    `"hourglass-make-tfrecords"` -> `"make_tfrecords"`."""
    return script.removeprefix("hourglass-").replace("-", "_")


def program_name(module_name, started_as=None, main_module=None):
    """How the usage line names program `module_name` ("training.train"): its
    console script when started as one, else `python -m` and the module that
    ran; `started_as` and `main_module` default to this process's."""
    started_as, main_module = how_started(started_as, main_module)
    script = script_name(started_as)
    if script in PROGRAMS and PROGRAMS[script][0] == module_name:
        return script
    if main_module.endswith(f".{module_name}") or main_module == module_name:
        return f"python -m {main_module}"
    return f"python -m {module_name}"


def how_started(started_as=None, main_module=None):
    """(`sys.argv[0]`, the module `python -m` ran or ""), each unless given."""
    if started_as is None:
        started_as = sys.argv[0] if sys.argv else ""
    if main_module is None:
        main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        main_module = main_spec.name if main_spec is not None else ""
    return started_as, main_module


def script_name(started_as):
    """The console script's name in a launcher path; Windows launchers are
    `hourglass-train.exe` and `hourglass-train-script.py`."""
    script = started_as.replace("\\", "/").rpartition("/")[2]
    return script.removesuffix(".exe").removesuffix("-script.py")


def installed_namespace():
    """`"keras_hourglass_programs"` when the programs run from the wheel
    (`training` is then an alias of the installed package), else ""."""
    package = sys.modules.get("training")
    return getattr(package, "__name__", "training").rpartition(".")[0]


def program_command(module_name, started_as=None, main_module=None, namespace=None):
    """How the user runs program `module_name`, judged by how they ran this
    one (console script, installed module or checkout), so a hint never names
    a module that exists only in a checkout."""
    started_as, main_module = how_started(started_as, main_module)
    if namespace is None:
        namespace = installed_namespace()
    scripts = [script for script, (module, _) in PROGRAMS.items()
               if module == module_name]  # fmt: skip
    started_by_script = script_name(started_as) in PROGRAMS
    if scripts and (started_by_script or (namespace and not main_module)):
        return scripts[0]
    if namespace:
        return f"python -m {namespace}.{module_name}"
    return f"python -m {module_name}"


def install_extra_command(extra):
    """The pip command that adds an optional extra to this install."""
    if installed_namespace():
        return f'pip install "keras-hourglass[{extra}]"'
    return f'pip install -e ".[{extra}]"'


class ProgramExit(SystemExit):
    """Ends a program with exit status 2 and the one line `error: MESSAGE`."""

    prefix = "error"

    def __init__(self, message, code=2):
        super().__init__(code)
        self.message = message

    def __str__(self):
        return self.message


class ProgramInterrupted(ProgramExit):
    """Ends a program stopped by Ctrl-C: status 130 (128 + SIGINT, as shells
    report it) and the one line `interrupted: MESSAGE`."""

    prefix = "interrupted"

    def __init__(self, message):
        super().__init__(message, code=130)


def ignore_further_interrupts():
    """A second Ctrl-C while a program winds down would end it with a
    traceback; the first one already asked it to stop."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def command_line(module_name, argv=None):
    """The command that runs program `module_name` with `argv` (default: ours)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return " ".join([program_command(module_name), *map(shlex.quote, arguments)])


def file_system_problem(error):
    """The one-line message for an exception a program's user can fix on
    their file system, or None for any other exception."""
    text = str(error)
    if isinstance(error, OSError):
        where = error.filename or "a file"
        if error.errno in DISK_FULL_ERRNOS or any(t in text for t in DISK_FULL_TEXTS):
            return disk_full_message(where)
        if error.errno in NOT_WRITABLE_ERRNOS:
            return (
                f"cannot write {where}: {error.strerror} (a read-only or "
                "protected folder); give a folder you can write to"
            )
        if error.errno == errno.ENOTDIR:
            return f"{where}: a file stands where a folder is needed"
        if error.filename is not None:
            return f"{where}: {error.strerror or error}"
        return None
    if type(error).__name__ == "ResourceExhaustedError" and any(
        t in text for t in DISK_FULL_TEXTS
    ):
        return disk_full_message("a file")
    return None


def disk_full_message(where):
    return (
        f"the disk is full (writing {where}). Files are written whole or not "
        "at all, so nothing saved before was lost; free some space and run "
        "the same command again"
    )


def run_main(main):
    """Runs a program's `main()`; returns its exit status (its int, else 0;
    after one line: a `ProgramExit`'s code, 2 for a `file_system_problem`,
    130 for Ctrl-C)."""
    try:
        status = main()
    except ProgramExit as exit_request:
        print(f"{exit_request.prefix}: {exit_request}", file=sys.stderr, flush=True)
        return exit_request.code
    except KeyboardInterrupt:
        ignore_further_interrupts()
        print("interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        return 130
    except Exception as error:
        problem = file_system_problem(error)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0


def run_program(module_name):
    """Runs `module_name.main()` on `sys.argv`; returns the exit status."""
    program = importlib.import_module(module_name)
    # From the wheel this file also loads as `training.programs`, whose
    # ProgramExit class the programs raise.
    return importlib.import_module("training.programs").run_main(program.main)


def __getattr__(name):
    """The console scripts' entry points, `train()` and so on."""
    for script, (module_name, _) in PROGRAMS.items():
        if entry_point_name(script) == name:
            return lambda: run_program(module_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
