"""Which code made this model? Resolve a model version's lineage, then ask the reverse question.

    python examples/resolve_lineage.py models:/fraud@champion --tracking-uri http://mlflow:5000
    python examples/resolve_lineage.py            # demo: a throw-away SQLite store, one run, one version

Exit code 0 when the lineage is complete, 1 when it has error findings (use it as a deployment gate).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional


def build_demo(store_dir: Path) -> tuple[str, str]:
    """One run (from this script: the plugin tags it with this checkout's commit) and one version."""
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{store_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("lineage-demo", artifact_location=(store_dir / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_run(run_name="demo-training") as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_dict({"flavors": {}}, "model/MLmodel")
    client.create_registered_model("demo-model")
    mv = client.create_model_version("demo-model", f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_registered_model_alias("demo-model", "champion", mv.version)
    return uri, "models:/demo-model@champion"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="models:/name/3, models:/name@alias, a run id, ...")
    parser.add_argument("--tracking-uri")
    parser.add_argument("--registry-uri")
    args = parser.parse_args(argv)

    from mlflow_lineage_plugin.resolve import find, resolve

    with tempfile.TemporaryDirectory() as tmp:
        tracking_uri, target = args.tracking_uri, args.target
        if target is None:
            tracking_uri, target = build_demo(Path(tmp))

        lineage = resolve(target, tracking_uri=tracking_uri, registry_uri=args.registry_uri)
        print(lineage.to_text())

        # The reverse question: everything else that came from the same commit.
        for commit in lineage.of_kind("git_commit"):
            sha = commit.attrs["commit"]
            print(f"also from commit {sha[:12]}:")
            print(find(commit=sha, tracking_uri=tracking_uri, registry_uri=args.registry_uri).to_text())
        return 0 if lineage.ok else 1


if __name__ == "__main__":
    sys.exit(main())
