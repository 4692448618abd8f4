"""plantão's chaos suite: real processes, real faults, and a checker (see chaos/README.md)."""
