"""l3sim: a simulator of GPU + DIMM-PIM long-context LLM inference (the L3 system and its baselines)."""

from l3sim.errors import CapacityError, ConfigError, L3SimError, TraceFormatError

__version__ = "0.1.0"

__all__ = ["CapacityError", "ConfigError", "L3SimError", "TraceFormatError", "__version__"]
