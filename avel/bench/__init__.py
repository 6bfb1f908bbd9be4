"""Benchmarks built above feature extraction: the composite AVE-style benchmark and planted sets.

composite (build: plan -> render -> extract -> write the AVE layout), with catalog (the media
package), plan, scene and audio (rendering), stats, examples and cli (`python -m avel bench`);
planted (known signals at chosen scales, for the learnability tests).
"""
