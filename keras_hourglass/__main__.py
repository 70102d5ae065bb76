"""`python -m keras_hourglass`: lists the console programs this installation
provides, from the distribution's metadata (no program is imported)."""

import importlib.metadata

from keras_hourglass import __version__

DISTRIBUTION = "keras-hourglass"


def console_scripts(distribution=DISTRIBUTION):
    """The sorted console-script names `distribution` installs (none when it
    is not installed, e.g. a checkout on PYTHONPATH)."""
    try:
        entry_points = importlib.metadata.distribution(distribution).entry_points
    except importlib.metadata.PackageNotFoundError:
        return []
    return sorted(
        entry.name for entry in entry_points if entry.group == "console_scripts"
    )


def main():
    scripts = console_scripts()
    print(f"keras-hourglass {__version__}: console programs (each takes --help)")
    print()
    for script in scripts:
        print(f"  {script}")
    if not scripts:
        print(f"  none: {DISTRIBUTION} is not installed (pip install .)")
    print()
    print(
        "From a checkout, `python -m training.<program>` and "
        "`python -m evaluation.<program>` run the same programs "
        "(hourglass-make-tfrecords: python -m training.make_tfrecords)."
    )


if __name__ == "__main__":
    main()
