"""Fusion orchestrator: live signals of an asset → one scored, explained decision.

Pure cores (:mod:`~operators.fusion.scoring`, :mod:`~operators.fusion.bands`,
:mod:`~operators.fusion.reliability`, :mod:`~operators.fusion.core`) and one thin Bytewax
operator (:func:`~operators.fusion.operators.fuse`).
"""

from operators.fusion.bands import decide
from operators.fusion.config import FusionConfig
from operators.fusion.core import FusionCore, fuse_all
from operators.fusion.operators import FusionStreams, fuse
from operators.fusion.reliability import ReliabilityTracker, SourceReliability, source_key
from operators.fusion.scoring import Vote, consensus, weighted_score

__all__ = [
    "FusionConfig",
    "FusionCore",
    "FusionStreams",
    "ReliabilityTracker",
    "SourceReliability",
    "Vote",
    "consensus",
    "decide",
    "fuse",
    "fuse_all",
    "source_key",
    "weighted_score",
]
