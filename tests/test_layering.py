"""The one-way dependency rules of docs/architecture.md, checked on every module with ``ast``.

Every import counts, at the top of a module or inside a function. ``bodycam_errors`` (the
root exception, importing nothing) and ``bodycam_threads`` (the owned thread, importing only
``bodycam_errors``) may be imported by every package. Three rules: which package may import
which; inside the station, which part may import which (and which parts may know the command
line or the web); and no import cycle anywhere, between packages or inside one.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evidence", "hw", "overlay", "capture", "sync", "firmware", "station")
TOP_MODULES = ("bodycam_errors", "bodycam_threads")
ALLOWED = {
    "evidence": set(),
    "hw": set(),
    "overlay": set(),
    "capture": {"words", "evidence", "hw"},
    "sync": {"words", "evidence"},
    "firmware": {"words", "capture", "overlay", "evidence", "hw", "sync"},
    "station": {"words", "sync", "evidence"},
}
# The station's parts: the database, its configuration file, three areas, the one place that
# opens them, and the two front doors (the command line and the web page). An area never
# reaches a front door.
STATION_PARTS = {
    "words": set(),
    "db": set(),
    "config": {"words", "db"},
    "catalogue": {"words", "db"},
    "custody": {"words", "catalogue", "db"},
    "intake": {"words", "catalogue", "custody", "db"},
    "store": {"words", "catalogue", "custody", "db"},
    "dock": {"words", "intake", "catalogue", "custody", "db"},
    "supervision": {"words", "intake", "store", "catalogue", "custody", "db"},
    "services": {"words", "db", "config", "catalogue", "custody", "intake", "store", "dock", "supervision"},
    "commands": {"words", "config", "services", "catalogue", "custody", "intake", "store", "dock", "supervision"},
    "web": {"words", "config", "services", "catalogue", "custody", "intake", "store", "dock", "supervision"},
    "cli": {"words", "config", "commands", "web", "services", "catalogue", "custody", "intake", "dock", "supervision"},
    "__main__": {"cli"},
}
FRONT_DOOR_LIBRARIES = {"argparse", "fastapi", "starlette", "uvicorn", "jinja2", "http", "multipart"}
# The parts that know no argparse and no HTTP.
QUIET_PARTS = ("words", "db", "config", "catalogue", "custody", "intake", "store", "dock", "supervision",
               "services")
DEVICE_ONLY = ("av", "cv2", "numpy", "gpiozero", "PIL", "picamera2", "smbus2", "pynmea2")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ours by dotted name (a package by its own name, for its ``__init__``)."""
    found = {name: root / f"{name}.py" for name in TOP_MODULES if (root / f"{name}.py").exists()}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(name: str, path: Path) -> set[str]:
    """The dotted names every import statement of the module reaches, relative ones resolved;
    ``from a import b`` reaches ``a.b`` (a module, if there is one) and ``a``."""
    reached = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            reached |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(name, path).split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            reached.add(base)
            reached |= {f"{base}.{alias.name}" for alias in node.names}
    return reached


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Our modules, each with the modules of ours it imports (the deepest one each import names)."""
    ours = modules(root)
    graph = {}
    for name, path in ours.items():
        targets = set()
        for reached in imported_names(name, path):
            while reached and reached not in ours:
                reached = reached.rpartition(".")[0]
            if reached and reached != name:
                targets.add(reached)
        graph[name] = targets
    return graph


def violations(root: Path = ROOT) -> list[str]:
    """Imports against the package rule, the station's part rule, and the quiet parts' libraries."""
    found = []
    for name, path in modules(root).items():
        package = name.split(".")[0]
        reached = imported_names(name, path)
        tops = {r.split(".")[0] for r in reached}
        for other in sorted(tops & set(PACKAGES) - {package} - ALLOWED.get(package, set(PACKAGES))):
            found.append(f"{path.relative_to(root)} imports {other}")
        if package == "station" and name != "station":
            found += _station_violations(name, path, reached, root)
    return found


def _station_part(name: str) -> str:
    return name.split(".")[1]


def _station_violations(name: str, path: Path, reached: set[str], root: Path) -> list[str]:
    part, found = _station_part(name), []
    for other in sorted({_station_part(r) for r in reached if r.startswith("station.")} - {part}):
        if other in STATION_PARTS and other not in STATION_PARTS.get(part, set()):
            found.append(f"{path.relative_to(root)} imports station.{other}")
    if part in QUIET_PARTS:
        for library in sorted({r.split(".")[0] for r in reached} & FRONT_DOOR_LIBRARIES):
            found.append(f"{path.relative_to(root)} imports {library}")
    if name.startswith("station.web.routes."):
        for other in sorted(r for r in reached if r == "station.web.app" or
                            (r.startswith("station.web.routes.") and r != name)):
            found.append(f"{path.relative_to(root)} imports {other} (routers take what they share from web.deps)")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other round in a circle (Tarjan's strongly
    connected components of more than one module), each as one path round it."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph[target]))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_round(group, graph) for group in sorted(groups)]


def _path_round(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest way from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for target in sorted(graph[path[-1]] & members):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                paths.append(path + [target])
    return group


def test_every_package_and_station_part_imports_only_what_the_rules_allow():
    assert violations() == []


def test_there_is_no_import_cycle():
    assert [" -> ".join(cycle) for cycle in cycles(import_graph())] == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        for parent in (tmp_path / relative).parents:
            if parent != tmp_path and tmp_path in parent.parents and not (parent / "__init__.py").exists():
                (parent / "__init__.py").write_text("")
        (tmp_path / relative).write_text(textwrap.dedent(text))
    return tmp_path


def test_a_forbidden_import_is_caught(tmp_path):
    """The checker itself can fail: a station module that reaches into the device, an area that
    reaches a front door or parses arguments, a router that imports the app, are all named."""
    root = _tree(tmp_path, {
        "station/sneaky.py": """
            def later():
                from firmware.offload import serve   # inside a function counts too
                return serve
        """,
        "evidence/cycle.py": "import sync.link\n",
        "station/catalogue/rules.py": "import argparse\nfrom station.web import deps\n",
        "station/web/deps.py": "",
        "station/web/app.py": "",
        "station/web/routes/search.py": "from station.web.app import create_app\nfrom ..deps import Web\n",
    })
    assert violations(root) == [
        "evidence/cycle.py imports sync",
        "station/catalogue/rules.py imports station.web",
        "station/catalogue/rules.py imports argparse",
        "station/sneaky.py imports firmware",
        "station/web/routes/search.py imports station.web.app (routers take what they share from web.deps)",
    ]


def test_a_cycle_is_caught(tmp_path):
    """Two modules importing each other (one relatively, one inside a function) are found, and a
    module importing a package's name finds the package's module."""
    root = _tree(tmp_path, {
        "station/web/app.py": "from station.web.routes import search\n",
        "station/web/routes/search.py": "def later():\n    from ..app import render\n",
        "station/web/deps.py": "from station.web import i18n\n",
        "station/web/i18n.py": "",
    })
    assert cycles(import_graph(root)) == [
        ["station.web.app", "station.web.routes.search", "station.web.app"]]


def test_the_station_runs_without_the_device_libraries(tmp_path):
    """With PyAV, OpenCV, NumPy, gpiozero and the rest made unimportable, the station's and the
    link's modules import and ``bodycam-station`` works."""
    blocker = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {DEVICE_ONLY!r}:
                    raise ImportError(f"{{name}} is a device library: not installed on a station")
        sys.meta_path.insert(0, Block())
        import pkgutil, importlib
        for package in ("evidence", "sync", "station"):
            module = importlib.import_module(package)
            for info in pkgutil.walk_packages(module.__path__, package + "."):
                importlib.import_module(info.name)
        from station.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    archive = tmp_path / "archive"
    run = subprocess.run([sys.executable, "-c", blocker, "init", "--archive", str(archive)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "dock key" in run.stdout and (archive / "dock" / "dock.key").exists()


def test_the_blocker_would_notice_a_device_library():
    """The same blocker refuses the recorder, which needs PyAV: so the test above can fail."""
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {DEVICE_ONLY!r}: raise ImportError(name)\n"
            "sys.meta_path.insert(0, Block())\nimport capture.pipeline\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "ImportError: av" in run.stderr
