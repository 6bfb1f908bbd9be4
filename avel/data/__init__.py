"""AVE-layout datasets: read (with validation, per-split loading) and write the official file layout."""

from avel.data.annotations import (
    Annotation,
    check_labels_against_annotations,
    derive_labels,
    read_annotations,
)
from avel.data.ave import AVEDirectory, AVESplit, FeatureDims
from avel.data.features_info import FEATURES_INFO_FILE, FeaturesInfo, ProjectionInfo
from avel.data.layout import SPLITS, AVEFormatError
from avel.data.writer import write_ave_layout

__all__ = [
    "FEATURES_INFO_FILE",
    "SPLITS",
    "AVEDirectory",
    "AVEFormatError",
    "AVESplit",
    "Annotation",
    "FeatureDims",
    "FeaturesInfo",
    "ProjectionInfo",
    "check_labels_against_annotations",
    "derive_labels",
    "read_annotations",
    "write_ave_layout",
]
