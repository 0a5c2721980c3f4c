"""`distilscreen bulk`: a corpus screened offline on Ray Data, with the service's own
decoder, limits, sampling, engine and judges, written as Parquet (per frame, per video).

sources (what to screen) -> decode (CPU tasks) -> predict (an actor pool of judges) ->
results (Parquet parts, resumable) -> pipeline (the Ray Data plan and its run) -> cli.
Needs the `bulk` extra (ray[data], pyarrow); nothing the service runs imports this package.
"""
