"""The layers of docs/architecture.md: no import runs back up them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Module (or package) -> layer, as in docs/architecture.md's table; the longest prefix wins.
LAYERS = {
    "app": 7,  # the documented entry point: starts avel.app
    "avel": 7,  # the package itself: __version__ and the public facade (avel.localize)
    "avel.__main__": 7,
    "avel.app": 6,
    "avel.commands": 6,
    "avel.bench": 5,
    "avel.report": 5,
    "avel.analysis": 4,
    "viz": 4,
    "avel.training": 3,
    "avel.models": 2,
    "avel.data": 2,
    "avel.features": 2,
    "avel.common": 1,
}
# Inside a package the modules are layered too: a module may import those listed before it.
INNER_ORDER = {
    "avel.app": ("config", "errors", "outputs", "views", "handlers", "layout", "server"),
    "avel.commands": ("args", "*", ""),  # "*": every command module; "": the package (main)
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


def _inner_rank(package: str, module: str) -> int | None:
    """A module's place in its package's INNER_ORDER (None: not an ordered package's module)."""
    if module != package and not module.startswith(package + "."):
        return None
    order = INNER_ORDER[package]
    name = module[len(package) + 1 :].split(".")[0]
    return order.index(name) if name in order else order.index("*")


def test_no_import_runs_up_inside_the_app_and_the_commands() -> None:
    upward = []
    for package in INNER_ORDER:
        folder = ROOT / Path(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            module = _module_name(path)
            for name in _imports(path):
                mine, theirs = _inner_rank(package, module), _inner_rank(package, name)
                if theirs is not None and mine is not None and theirs > mine:
                    upward.append(f"{module} imports {name}")
    assert upward == []


def test_commands_stay_apart_from_the_library() -> None:
    """argparse lives in avel/commands/ alone: the library is used from Python with config objects."""
    library = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "avel").rglob("*.py"))
        if "commands" not in path.parts and "argparse" in _plain_imports(path)
    ]
    assert library == []


def _plain_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
