"""The layers of docs/architecture.md: no import runs back up them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Module (or package) -> layer, as in docs/architecture.md's table; the longest prefix wins.
LAYERS = {
    "app": 6,
    "avel.cli": 6,
    "avel.__main__": 6,
    "avel.bench": 5,
    "avel.report": 5,
    "avel.analyze": 4,
    "avel.explore": 4,
    "avel.presenter": 4,
    "avel.localizer": 4,
    "avel.long_clip": 4,
    "viz": 4,
    "avel.train": 3,
    "avel.evaluate": 3,
    "avel.extract": 3,
    "avel.bundle": 3,
    "avel.calibrate": 3,
    "avel.checkpoint": 2,
    "avel.features": 2,
    "avel.models": 1,
    "avel.data": 1,
    "avel.backbones": 1,
    "avel.media": 1,
    "avel.device": 1,
    "avel.distributed": 1,
    "avel.bounded": 0,
    "avel.config": 0,
    "avel.classes": 0,
    "avel.metrics": 0,
    "avel.calibration": 0,
    "avel.projection": 0,
    "avel.files": 0,
    "avel.text": 0,
    "avel": 6,  # the package itself: __version__ and the public facade (avel.localize)
}


def _layer(module: str) -> int:
    best = max((name for name in LAYERS if module == name or module.startswith(name + ".")), key=len)
    return LAYERS[best]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "avel":  # `from avel import train`: the imported names are modules
                found += [f"avel.{alias.name}" for alias in node.names if alias.name != "__version__"]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.split(".")[0] in ("avel", "viz")]


def test_no_import_runs_up_the_layers() -> None:
    sources = [ROOT / "app.py", *sorted((ROOT / "avel").rglob("*.py")), *sorted((ROOT / "viz").rglob("*.py"))]
    upward = [
        f"{_module_name(path)} (layer {_layer(_module_name(path))}) imports {name} (layer {_layer(name)})"
        for path in sources
        for name in _imports(path)
        if _layer(name) > _layer(_module_name(path))
    ]
    assert upward == []


def test_data_holds_the_ave_format_only() -> None:
    names = {path.stem for path in (ROOT / "avel" / "data").glob("*.py")}
    assert not any(name.startswith("composite") for name in names)
