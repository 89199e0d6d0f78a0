"""``python -m choreo``: the ``choreo`` command, for environments without the console script."""

from choreo.cli.app import main

if __name__ == "__main__":
    main()
