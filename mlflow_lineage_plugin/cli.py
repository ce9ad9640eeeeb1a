"""The ``mlflow-lineage`` command: thin click wrappers; the logic lives in the modules it calls."""

from __future__ import annotations

import click

from mlflow_lineage_plugin import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-lineage")
def main() -> None:
    """Lineage of MLflow models: from a model version to the run, workspace and git commit."""


def _register() -> None:
    from mlflow_lineage_plugin.doctor import doctor

    main.add_command(doctor)


_register()
