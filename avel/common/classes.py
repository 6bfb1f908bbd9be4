"""The 29 AVE classes: 28 events in `categories.txt` order, then background at index 28."""

from __future__ import annotations

from pathlib import Path

# AVE's categories.txt, line order = class index; kept here so checkpoints and the app work
# without the dataset on disk. `read_categories` checks a dataset's own file against it.
AVE_EVENTS: tuple[str, ...] = (
    "Church bell",
    "Male speech, man speaking",
    "Bark",
    "Fixed-wing aircraft, airplane",
    "Race car, auto racing",
    "Female speech, woman speaking",
    "Helicopter",
    "Violin, fiddle",
    "Flute",
    "Ukulele",
    "Frying (food)",
    "Truck",
    "Shofar",
    "Motorcycle",
    "Acoustic guitar",
    "Train horn",
    "Clock",
    "Banjo",
    "Goat",
    "Baby cry, infant cry",
    "Bus",
    "Chainsaw",
    "Cat",
    "Horse",
    "Toilet flush",
    "Rodents, rats, mice",
    "Accordion",
    "Mandolin",
)
BACKGROUND = "Background"
# An abstained second (below the checkpoint's calibrated threshold, avel/common/calibration.py): its
# machine label (CLI/JSON) and how the app writes it.
UNKNOWN = "unknown"
UNKNOWN_TEXT = "Not a known event"
# An abstained second whose probability sits on a few trained classes (the calibrated unsure_mass):
# the model hesitates between classes it knows rather than meeting something new.
UNSURE = "unsure"
UNSURE_TEXT = "Unsure between trained classes"
AVE_CLASSES: tuple[str, ...] = (*AVE_EVENTS, BACKGROUND)


def background_index(classes: tuple[str, ...] | list[str]) -> int:
    """Background is the last class of every class list (AVE's categories.txt order, then it)."""
    return len(classes) - 1


BACKGROUND_INDEX = background_index(AVE_CLASSES)  # 28


def read_categories(path: Path) -> tuple[str, ...]:
    """Read a `categories.txt` (one event name per line) and append background.

    Raises ValueError naming the file when it is empty, so a wrong path is not silently
    turned into a one-class problem.
    """
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"{path}: no class names found (expected one event name per line)")
    return (*names, BACKGROUND)


def class_index(name: str, classes: tuple[str, ...] = AVE_CLASSES) -> int:
    """Index of a class name; an unknown name lists the valid ones."""
    try:
        return classes.index(name)
    except ValueError:
        raise ValueError(f"unknown class {name!r}; valid: {', '.join(classes)}") from None
