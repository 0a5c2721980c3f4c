"""The students: distilled from the soft targets, and the undistilled baseline (`stage`)."""
