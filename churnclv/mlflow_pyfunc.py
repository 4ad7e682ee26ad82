"""MLflow pyfunc over a model bundle (logged as "models from code").

MLflow executes this file when it loads the model (the ``set_model`` call at the end is how
models-from-code work); the project's own code never imports it.

``model_config["output"]`` selects what ``predict`` returns for a feature frame:
``churn`` -> churn_probability; ``clv`` -> expected_revenue and clv. Probabilities, not labels
(MLflow's LightGBM flavour of a classifier would return labels).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from churnclv.bundle import ModelBundle


class BundleModel(PythonModel):
    """Loads the bundle once; predicts churn probability or revenue and CLV."""

    def load_context(self, context) -> None:  # noqa: ANN001
        self.bundle = ModelBundle.load(context.artifacts["bundle"])
        self.output = (context.model_config or {}).get("output", "churn")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        return self.bundle.predict_frame(model_input, self.output)


mlflow.models.set_model(BundleModel())
