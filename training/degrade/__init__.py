"""Degradations: what platforms do to video (re-encoding, rescaling, JPEG blocking, noise),
drawn per clip and view from the config's ranges (`spec`) and applied with real encoders
through PyAV (`apply`)."""

from training.degrade.apply import degraded_frames, write_degraded
from training.degrade.spec import Degradation, DegradeSpec, Encode, Jpeg, Noise, Rescale, Step

__all__ = ["Degradation", "DegradeSpec", "Encode", "Jpeg", "Noise", "Rescale", "Step",
           "degraded_frames", "write_degraded"]
