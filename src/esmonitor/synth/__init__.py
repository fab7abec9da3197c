"""A synthetic Ontario: realistic extracts with planted, known effects (ground truth)."""

from esmonitor.synth.province import Province, SynthConfig, generate
from esmonitor.synth.writer import write_province

__all__ = ["Province", "SynthConfig", "generate", "write_province"]
