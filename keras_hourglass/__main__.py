"""`python -m keras_hourglass`: lists the console programs (imports none)."""

from keras_hourglass import __version__
from keras_hourglass.programs import program_table


def main():
    print(f"keras-hourglass {__version__}: console programs (each takes --help)")
    print()
    for line in program_table():
        print(f"  {line}")
    print()
    print("From a checkout, the `python -m` form runs the same program.")


if __name__ == "__main__":
    main()
