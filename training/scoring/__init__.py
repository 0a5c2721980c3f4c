"""Scores of a binary detector: metrics (`metrics`) and calibration (`calibrate`), plain
functions of label, logit and probability arrays."""
