"""The model as it is shipped: the bundle format (``bundle``), its input spec (``matrix``), the
BG/NBD + Gamma-Gamma maths (``btyd``), the one CLV computation (``clv``), subscriptions' renewals
ahead (``renewals``) and the shifted-beta-geometric and Kaplan-Meier retention maths (``sbg``),
and the MLflow pyfunc (``mlflow_pyfunc``). Training writes bundles, serving reads them; a registered MLflow model
carries this package and nothing else."""
