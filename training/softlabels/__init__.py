"""The ensemble's soft targets: teachers labelling frames (`labelling`), the members' logits
cached on disk (`cache`), the targets at T (`targets`) and the stage (`stage`)."""
