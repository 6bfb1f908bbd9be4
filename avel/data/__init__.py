"""AVE-layout datasets: read (with validation, per-split loading) and write the official file layout."""

from avel.data.annotations import (
    Annotation,
    check_labels_against_annotations,
    derive_labels,
    read_annotations,
)
from avel.data.ave import AVEDirectory, AVESplit, FeatureDims
from avel.data.layout import SPLITS, AVEFormatError
from avel.data.writer import write_ave_layout

__all__ = [
    "SPLITS",
    "AVEDirectory",
    "AVEFormatError",
    "AVESplit",
    "Annotation",
    "FeatureDims",
    "check_labels_against_annotations",
    "derive_labels",
    "read_annotations",
    "write_ave_layout",
]
