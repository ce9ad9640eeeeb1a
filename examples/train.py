"""Train a tiny model and log it to MLflow: a script to copy into your own git checkout.

Nothing here mentions git or workspaces. With mlflow-lineage-plugin installed, the run, the logged
model and any registered version carry the commit, branch, repository, dirty state, the path of this
file in the repository and the workspace URI, because the plugin hooks into MLflow itself.

    python train.py                                 # one run: a param, a metric and a model
    python train.py --register-as iris-classifier   # also register a model version
"""

from __future__ import annotations

import argparse
from typing import Optional

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register-as", metavar="NAME", help="register the model under this name")
    parser.add_argument("--experiment", default="lineage-example")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args(argv)

    X, y = load_iris(return_X_y=True)
    mlflow.set_experiment(args.experiment)
    with mlflow.start_run() as run:
        model = LogisticRegression(C=args.C, max_iter=300).fit(X, y)
        mlflow.log_param("C", args.C)
        mlflow.log_metric("train_accuracy", model.score(X, y))
        # MLflow 3 names a model with `name`; MLflow 2 with `artifact_path`.
        where = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
        info = mlflow.sklearn.log_model(model, registered_model_name=args.register_as, input_example=X[:2], **where)

    print(f"run_id={run.info.run_id}")
    if getattr(info, "model_id", None):
        print(f"model_id={info.model_id}")
    if args.register_as and getattr(info, "registered_model_version", None):
        print(f"model_version={args.register_as}/{info.registered_model_version}")


if __name__ == "__main__":
    main()
