"""``mlflow-lineage doctor``: is the plugin active here, and what would it record right now."""

from __future__ import annotations

import click


@click.command()
def doctor() -> None:
    """Check that MLflow loads the plugin and show what it would record now."""
    click.echo("not implemented yet")
