"""MLflow pyfunc over a model bundle: returns probabilities and values, not labels.

(MLflow's LightGBM flavour of a classifier would return labels.) ``output`` selects what
``predict`` returns for a feature frame: ``churn`` -> churn_probability; ``clv`` ->
expected_revenue and clv. The parameter ``scoring_date`` (YYYY-MM-DD; default the training
data's end) is the date the features were built at, as in ``churnclv score``.
"""

from __future__ import annotations

import pandas as pd
from mlflow.pyfunc import PythonModel

from model.bundle import ModelBundle


class BundleModel(PythonModel):
    """Loads the bundle once (artifact ``bundle``); predicts churn, or revenue and CLV."""

    def __init__(self, output: str) -> None:
        if output not in ("churn", "clv"):
            raise ValueError(f"output must be 'churn' or 'clv', not {output!r}")
        self.output = output

    def load_context(self, context) -> None:  # noqa: ANN001
        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        date = (params or {}).get("scoring_date") or None
        return self.bundle.predict_frame(model_input, self.output, date)
