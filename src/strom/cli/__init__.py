"""The ``strom`` command line (layer L6). Entry point: :func:`strom.cli.main.main`."""
