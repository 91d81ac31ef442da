"""``python -m gasnas`` (and ``torchrun ... -m gasnas``): the ``gasnas`` command line."""

from gasnas.cli import main

if __name__ == "__main__":
    main(prog_name="gasnas")
