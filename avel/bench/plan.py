"""The sampling plan of the composite benchmark: what goes into each video, drawn once from a seed.

Every random choice is made here, in one seeded pass; rendering is a pure function of a
`VideoPlan`, so videos can be rendered by any number of workers in any order and a re-run with the
same seed rebuilds the same files. The plan is also the ground truth written to the manifest.

Labels follow AVE: a second is an audio-visual event when the event object is visible AND its
sound is audible. Open-set videos show and play an event of another kind (a non-AVE object and a
non-AVE sound, together) and are background throughout, as AVE labels every event outside its 28.
Event spans are copied from AVE annotations of the same class, so their length and position
statistics are AVE's. Next to the span, each side independently gets background
seconds where only one modality carries the class (object visible but silent, or sound audible
with the object off-screen), so both modalities are needed to label a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from avel.bench.catalog import AMBIENT, DISTRACTOR, MediaCatalog, MediaItem
from avel.common.classes import BACKGROUND as BACKGROUND_CLASS
from avel.common.classes import BACKGROUND_INDEX, class_index
from avel.common.config import CompositeConfig
from avel.data.annotations import Annotation
from avel.data.layout import SPLITS

Interval = tuple[int, int]  # [start, end) in whole seconds; (0, 0) is empty
Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in pixels, x1/y1 exclusive
EVENT, BACKGROUND, OPEN = "event", "background", "open"  # the kinds of video
BACKDROP = "backdrop"  # deck of the distractor photos used as backdrops
MAX_AMBIENT = 4  # ambient recordings chained per video (ESC-50 clips are 0.5-5 s; the bed is looped)


@dataclass(frozen=True)
class Placement:
    """A photo pasted over the backdrop, visible on [visible) and sliding from `origin` to `target`."""

    image: str  # media path (relative to the media root)
    size: tuple[int, int]  # (width, height) in pixels once pasted
    origin: tuple[int, int]  # top-left (x, y) on the first visible frame
    target: tuple[int, int]  # top-left (x, y) on the last visible frame
    visible: Interval
    fill: bool = False  # the photo's centre square fills the frame (size = the frame, no motion)

    def frame_range(self, fps: int) -> range:
        return range(self.visible[0] * fps, self.visible[1] * fps)

    def top_left(self, frame: int, fps: int) -> tuple[int, int]:
        """Position on `frame` (which must be visible): a smoothstep from origin to target."""
        frames = self.frame_range(fps)
        u = (frame - frames.start) / max(1, len(frames) - 1)
        u = u * u * (3 - 2 * u)  # smoothstep: starts and stops without a jump in speed
        return (
            round(self.origin[0] + u * (self.target[0] - self.origin[0])),
            round(self.origin[1] + u * (self.target[1] - self.origin[1])),
        )

    def boxes_per_second(self, seconds: int, fps: int, camera: Camera | None = None) -> list[Box | None]:
        """Per second: the union of the photo's boxes over that second's frames as the camera
        shows them (`camera`: None = still), None when hidden."""
        boxes: list[Box | None] = []
        w, h = self.size
        frames = seconds * fps
        for second in range(seconds):
            if not self.visible[0] <= second < self.visible[1]:
                boxes.append(None)
                continue
            corners = []
            for f in range(second * fps, (second + 1) * fps):
                x, y = self.top_left(f, fps)
                box = (x, y, x + w, y + h)
                corners.append(camera.box(box, f, frames, self.fill) if camera else box)
            boxes.append(
                (
                    min(c[0] for c in corners),
                    min(c[1] for c in corners),
                    max(c[2] for c in corners),
                    max(c[3] for c in corners),
                )
            )
        return boxes


STILL_ZOOM = (1.0, 1.0)


@dataclass(frozen=True)
class Camera:
    """A slow zoom and pan over the composed picture, plus a small hand-held shake.

    Frame f maps a picture point p to zoom * (p - c) + c + shift, c the frame centre; the shift
    stays within the room the zoom leaves ((zoom - 1) * side / 2 on each side), so no border shows.
    """

    side: int  # frame side (px)
    zoom: tuple[float, float] = STILL_ZOOM  # on the first and the last frame
    pan: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # (x, y) first, (x, y) last: share of room
    shake_px: float = 0.0
    shake_phase: tuple[float, float] = (0.0, 0.0)

    @property
    def still(self) -> bool:
        return self.zoom == STILL_ZOOM

    def transform(self, frame: int, frames: int) -> tuple[float, float, float]:
        """(zoom, shift x, shift y) on `frame` of `frames`."""
        u = frame / max(1, frames - 1)
        zoom = self.zoom[0] + u * (self.zoom[1] - self.zoom[0])
        room = (zoom - 1) * self.side / 2
        shifts = []
        for axis, period in ((0, 23.0), (1, 29.0)):  # frames; two periods: the shake is not a line
            pan = self.pan[axis] + u * (self.pan[2 + axis] - self.pan[axis])
            shake = self.shake_px * math.sin(2 * math.pi * (frame / period + self.shake_phase[axis]))
            shifts.append(float(np.clip(pan * room + shake, -room, room)))
        return zoom, shifts[0], shifts[1]

    def box(self, box: Box, frame: int, frames: int, fills: bool = False) -> Box:
        """Where `box` of the composed picture lands on `frame`, clipped to the frame."""
        if fills:  # a photo that fills the frame still fills it
            return (0, 0, self.side, self.side)
        zoom, dx, dy = self.transform(frame, frames)
        c = self.side / 2
        x0, y0, x1, y1 = (zoom * (v - c) + c + d for v, d in zip(box, (dx, dy, dx, dy), strict=True))
        return (
            max(0, math.floor(x0)),
            max(0, math.floor(y0)),
            min(self.side, math.ceil(x1)),
            min(self.side, math.ceil(y1)),
        )


@dataclass(frozen=True)
class Look:
    """How the camera degrades the picture and the microphone the sound (CompositeConfig ranges)."""

    blur_sigma: float = 0.0
    capture_scale: float = 1.0
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 0.0
    noise_seed: int = 0
    crf: int = 23
    highpass_hz: float = 0.0
    lowpass_hz: float = 8000.0


@dataclass(frozen=True)
class VideoPlan:
    """Everything that decides one video's pixels, samples and labels."""

    name: str
    split: str
    kind: str  # EVENT (one event span), BACKGROUND (AVE's noisy set: never both at once) or OPEN
    # the class whose photo and recording appear (in background videos too); OPEN: Background
    event_class: str
    ave_source: str  # the AVE Annotations.txt row whose span was copied
    backdrop: str
    distractors: tuple[Placement, ...]
    event_object: Placement  # its `visible` interval is when the object is on screen
    sound: str  # the event recording
    audible: Interval  # when the event recording is mixed in
    sound_phase: float  # where in the recording (share of its length) the audible part starts
    snr_db: float  # event over ambient, in the audible seconds
    ambient: tuple[str, ...]  # recordings chained into the 10-s ambient bed
    ambient_phase: float
    camera: Camera
    look: Look

    @property
    def visible(self) -> Interval:
        return self.event_object.visible

    @property
    def event_span(self) -> Interval:
        """Visible AND audible: the audio-visual event, [start, end) (empty: (0, 0))."""
        start, end = max(self.visible[0], self.audible[0]), min(self.visible[1], self.audible[1])
        return (start, end) if start < end else (0, 0)

    def labels(self, seconds: int) -> list[int]:
        """Class index per second: the event class inside the span, background (28) elsewhere."""
        start, end = self.event_span
        index = class_index(self.event_class)
        return [index if start <= t < end else BACKGROUND_INDEX for t in range(seconds)]

    def media(self) -> list[str]:
        """Every media file this video uses."""
        return [
            self.backdrop,
            *(d.image for d in self.distractors),
            self.event_object.image,
            self.sound,
            *self.ambient,
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoPlan:
        """Inverse of `to_dict`, also from a manifest entry (extra keys such as labels are ignored;
        JSON lists become tuples again)."""

        def placement(p: dict[str, Any]) -> Placement:
            return Placement(
                p["image"],
                tuple(p["size"]),
                tuple(p["origin"]),
                tuple(p["target"]),
                tuple(p["visible"]),
                p.get("fill", False),
            )

        camera, look = d["camera"], d["look"]

        values = {f.name: d[f.name] for f in fields(cls)}
        values.update(
            distractors=tuple(placement(p) for p in d["distractors"]),
            event_object=placement(d["event_object"]),
            audible=tuple(d["audible"]),
            ambient=tuple(d["ambient"]),
            camera=Camera(
                camera["side"],
                tuple(camera["zoom"]),
                tuple(camera["pan"]),
                camera["shake_px"],
                tuple(camera["shake_phase"]),
            ),
            look=Look(**{**look, "tint": tuple(look["tint"])}),
        )
        return cls(**values)


class _Deck:
    """Draws items in shuffled rounds, so every file is used before any is used twice."""

    def __init__(self, items: Sequence[MediaItem], rng: np.random.Generator, what: str) -> None:
        if not items:
            raise ValueError(f"no media for {what}: the media manifest has no such files")
        self.items, self.rng, self._order = list(items), rng, list[int]()

    def draw(self) -> MediaItem:
        if not self._order:
            self._order = self.rng.permutation(len(self.items)).tolist()
        return self.items[self._order.pop()]


class Planner:
    """Draws `VideoPlan`s from the media of the usable classes and AVE's event spans."""

    def __init__(
        self,
        catalog: MediaCatalog,
        spans: Sequence[Annotation],
        cfg: CompositeConfig,
        seed: int,
        splits: tuple[str, ...] = SPLITS,
    ) -> None:
        """`splits`: the splits whose media may be drawn (the classes must have media in each)."""
        self.cfg = cfg
        self.classes = catalog.usable_classes(splits)
        if not self.classes:
            raise ValueError(f"no AVE class has both photos and recordings in every split of {list(splits)}")
        self.spans = {c: [a for a in spans if a.category == c and a.end > a.start] for c in self.classes}
        missing = [c for c, rows in self.spans.items() if not rows]
        if missing:
            raise ValueError(f"no AVE annotation with an event second for {missing}")
        self.rng = np.random.default_rng(seed)
        # Decks get their own generators in a fixed order, so a deck's draws do not depend on
        # which other decks were drawn from before.
        keys = [(c, m, s) for s in splits for c in self.classes for m in ("audio", "image")]
        keys += [(AMBIENT, "audio", s) for s in splits] + [(DISTRACTOR, "image", s) for s in splits]
        pools = {k: catalog.pool(*k) for k in keys}
        for s in splits:  # backdrops: the distractor photos big enough to look like a scene
            pools[(DISTRACTOR, BACKDROP, s)] = [
                item
                for item in pools[(DISTRACTOR, "image", s)]
                if min(item.width, item.height) >= cfg.backdrop_min_side
            ]
        streams = self.rng.spawn(len(pools))
        self.decks = {k: _Deck(v, g, "/".join(k)) for (k, v), g in zip(pools.items(), streams, strict=True)}

    def plan(self) -> list[VideoPlan]:
        """Event videos of every split (classes balanced), its open-set videos, then the
        background-only train videos."""
        plans = []
        for split in SPLITS:
            for i, name in enumerate(self._class_sequence(self.cfg.count(split))):
                plans.append(self.video(f"{split}_{i:04d}", split, name, EVENT))
            for i, name in enumerate(self._class_sequence(self.cfg.open_count(split))):
                plans.append(self.video(f"{split}_open_{i:04d}", split, name, OPEN))
        for i, name in enumerate(self._class_sequence(self.cfg.n_background)):
            plans.append(self.video(f"background_{i:04d}", "train", name, BACKGROUND))
        return plans

    def _class_sequence(self, n: int) -> list[str]:
        """`n` class names, each class n // C or n // C + 1 times, in random order."""
        order = self.rng.permutation(len(self.classes))
        names = [self.classes[order[i % len(order)]] for i in range(n)]
        return [names[i] for i in self.rng.permutation(n)]

    def video(self, name: str, split: str, event_class: str, kind: str) -> VideoPlan:
        """One video of `event_class` from `split` media; `kind` EVENT, BACKGROUND or OPEN (an
        event of another kind, with the span statistics of `event_class`)."""
        cfg, rng = self.cfg, self.rng
        source = self.spans[event_class][rng.integers(len(self.spans[event_class]))]
        visible, audible = (
            self._background_intervals(source) if kind == BACKGROUND else self._event_intervals(source)
        )
        backdrop = self.decks[(DISTRACTOR, BACKDROP, split)].draw()
        distractor_deck = self.decks[(DISTRACTOR, "image", split)]
        distractors = tuple(
            self._placement(
                distractor_deck.draw(), cfg.distractor_scale, cfg.distractor_travel, (0, cfg.seconds)
            )
            for _ in range(rng.integers(cfg.n_distractors[0], cfg.n_distractors[1] + 1))
        )
        if kind == OPEN:  # another kind of event: a non-AVE object and a non-AVE sound
            photo = distractor_deck.draw()
            sound = self.decks[(AMBIENT, "audio", split)].draw()
        else:
            photo = self.decks[(event_class, "image", split)].draw()
            sound = self.decks[(event_class, "audio", split)].draw()
        return VideoPlan(
            name=name,
            split=split,
            kind=kind,
            event_class=BACKGROUND_CLASS if kind == OPEN else event_class,
            ave_source=source.line(),
            backdrop=backdrop.path,
            distractors=distractors,
            event_object=self._event_placement(photo, visible),
            sound=sound.path,
            audible=audible,
            sound_phase=float(rng.random()),
            snr_db=round(float(rng.uniform(*cfg.snr_db)), 2),
            ambient=self._ambient(split, exclude=sound.path),
            ambient_phase=float(rng.random()),
            camera=self._camera(),
            look=self._look(),
        )

    def _event_placement(self, photo: MediaItem, visible: Interval) -> Placement:
        """The event photo filling the frame (p_full_frame, when big enough), or pasted and sliding."""
        cfg = self.cfg
        big = min(photo.width, photo.height) >= cfg.backdrop_min_side
        if self.rng.random() < cfg.p_full_frame and big:
            side = cfg.frame_size
            return Placement(photo.path, (side, side), (0, 0), (0, 0), visible, fill=True)
        return self._placement(photo, cfg.object_scale, cfg.object_travel, visible)

    def _camera(self) -> Camera:
        """A still camera, or (p_camera_motion) a zoom, pan and shake drawn from the config."""
        cfg, rng = self.cfg, self.rng
        if rng.random() >= cfg.p_camera_motion:
            return Camera(cfg.frame_size)
        return Camera(
            side=cfg.frame_size,
            zoom=(round(float(rng.uniform(*cfg.zoom)), 4), round(float(rng.uniform(*cfg.zoom)), 4)),
            pan=tuple(round(float(v), 4) for v in rng.uniform(-1, 1, 4)),
            shake_px=round(float(rng.uniform(*cfg.shake_px)), 3),
            shake_phase=(round(float(rng.random()), 4), round(float(rng.random()), 4)),
        )

    def _look(self) -> Look:
        """Picture and sound degradations, each drawn uniformly from its config range."""
        cfg, rng = self.cfg, self.rng

        def draw(bounds: tuple[float, float]) -> float:  # from the first bound to the second
            return round(bounds[0] + float(rng.random()) * (bounds[1] - bounds[0]), 4)

        return Look(
            blur_sigma=draw(cfg.blur_sigma),
            capture_scale=draw(cfg.capture_scale),
            brightness=draw(cfg.brightness),
            contrast=draw(cfg.contrast),
            saturation=draw(cfg.saturation),
            tint=(draw(cfg.tint), draw(cfg.tint), draw(cfg.tint)),
            noise_sigma=draw(cfg.noise_sigma),
            noise_seed=int(rng.integers(2**31)),
            crf=int(rng.integers(min(cfg.crf), max(cfg.crf) + 1)),
            highpass_hz=draw(cfg.highpass_hz),
            lowpass_hz=draw(cfg.lowpass_hz),
        )

    def _event_intervals(self, span: Annotation) -> tuple[Interval, Interval]:
        """Visible and audible intervals whose intersection is exactly the AVE span.

        On each side of the span the extra seconds go to one modality only (or to none).
        """
        p_vis, p_aud = self.cfg.p_visible_only, self.cfg.p_audible_only
        extra = {"visible": [0, 0], "audible": [0, 0]}  # seconds added [before, after] the span
        for side, room in enumerate((span.start, self.cfg.seconds - span.end)):
            if room == 0:
                continue
            which = self.rng.choice(["visible", "audible", "neither"], p=[p_vis, p_aud, 1 - p_vis - p_aud])
            if which != "neither":
                extra[which][side] = int(self.rng.integers(1, room + 1))
        (before_v, after_v), (before_a, after_a) = extra["visible"], extra["audible"]
        return (span.start - before_v, span.end + after_v), (span.start - before_a, span.end + after_a)

    def _background_intervals(self, span: Annotation) -> tuple[Interval, Interval]:
        """Visible and audible intervals that never overlap: the span goes to one modality, or is
        cut in two with the object shown in one part and heard in the other."""
        start, end = span.start, span.end
        which = int(self.rng.integers(3))
        if which == 0 or (which == 2 and end - start < 2):
            return (start, end), (0, 0)
        if which == 1:
            return (0, 0), (start, end)
        cut = int(self.rng.integers(start + 1, end))
        first, second = (start, cut), (cut, end)
        return (first, second) if self.rng.random() < 0.5 else (second, first)

    def _placement(
        self, item: MediaItem, scale: tuple[float, float], travel: tuple[float, float], visible: Interval
    ) -> Placement:
        """A random size, start position and straight path that keep the photo inside the frame."""
        frame = self.cfg.frame_size
        long_side = self.rng.uniform(*scale) * frame
        aspect = item.width / item.height
        w, h = (long_side, long_side / aspect) if aspect >= 1 else (long_side * aspect, long_side)
        w, h = max(8, round(w)), max(8, round(h))
        x0, y0 = int(self.rng.integers(0, frame - w + 1)), int(self.rng.integers(0, frame - h + 1))
        angle, dist = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(*travel) * frame
        x1 = int(np.clip(round(x0 + dist * math.cos(angle)), 0, frame - w))
        y1 = int(np.clip(round(y0 + dist * math.sin(angle)), 0, frame - h))
        return Placement(item.path, (w, h), (x0, y0), (x1, y1), visible)

    def _ambient(self, split: str, exclude: str) -> tuple[str, ...]:
        """Different ambient recordings, chained until they cover the video (at most MAX_AMBIENT);
        never `exclude` (an open-set video's event sound)."""
        deck, chosen, total = self.decks[(AMBIENT, "audio", split)], list[str](), 0.0
        while total < self.cfg.seconds and len(chosen) < MAX_AMBIENT:
            item = deck.draw()
            if item.path == exclude:  # the deck gives every other file before this one again
                item = deck.draw()
            if item.path in chosen or item.path == exclude:
                break
            chosen.append(item.path)
            total += item.duration_s
        return tuple(chosen)
