"""Training: churn and CLV models, baselines, backtest, MLflow."""
