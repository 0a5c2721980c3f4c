"""The ensemble: its members (`members`) and the stage that trains them (`stage`)."""
