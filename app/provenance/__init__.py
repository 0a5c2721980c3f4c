"""Content credentials (C2PA): read what an upload says about its own origin, beside what
the detector sees in its frames."""
