"""The built-in benchmark: authentic clips from real photos, procedural scenes and face
photos composited into scenes, and synthetic clips made by known manipulation families
(face clips: the face self-blend), encoded with H.264."""

from training.data.synth.generate import SynthSummary, generate, plan_clips
from training.data.synth.recipes import FAMILIES, Ranges

__all__ = ["FAMILIES", "Ranges", "SynthSummary", "generate", "plan_clips"]
