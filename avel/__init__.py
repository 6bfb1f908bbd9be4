"""avel: audio-visual event localization with the co-attention model of Xue et al. (IEEE TMM)."""

__version__ = "0.1.0"
