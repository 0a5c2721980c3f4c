"""The run's report: the table, ratios and plots (`writer`), from the run's predictions and
evaluation (`stage`)."""
