"""Marketing reports from the inputs and the scoring runs: retention rate (E - N) / S x 100
per month (``retention``), cohort heatmap, CLV by acquisition channel and campaign effect,
treated vs control from the run history (``marketing``)."""
