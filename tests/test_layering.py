"""The one-way dependency rule of docs/architecture.md, checked on every module with ``ast``.

Every import counts, at the top of a module or inside a function. ``bodycam_errors`` (the
root exception, importing nothing) and ``bodycam_threads`` (the owned thread, importing only
``bodycam_errors``) may be imported by every package.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("evidence", "hw", "overlay", "capture", "sync", "firmware", "station")
ANYONE = {"bodycam_errors", "bodycam_threads"}
ALLOWED = {
    "evidence": set(),
    "hw": set(),
    "overlay": set(),
    "capture": {"overlay", "evidence", "hw"},
    "sync": {"evidence"},
    "firmware": {"capture", "overlay", "evidence", "hw", "sync"},
    "station": {"sync", "evidence"},
}
DEVICE_ONLY = ("av", "cv2", "numpy", "gpiozero", "PIL", "picamera2", "smbus2", "pynmea2")


def imported_packages(path: Path, package: str) -> set[str]:
    """The top-level names every import statement in the file reaches (relative ones: its own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(package if node.level else (node.module or "").split(".")[0])
    return names


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(imported_packages(path, package) & set(PACKAGES) - {package} - allowed):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


def test_every_package_imports_only_what_the_rule_allows():
    assert violations() == []


def test_a_forbidden_import_is_caught(tmp_path):
    """The checker itself can fail: a station module that reaches into the device is named."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "station" / "sneaky.py").write_text(textwrap.dedent("""
        def later():
            from firmware.offload import serve   # inside a function counts too
            return serve
    """))
    (tmp_path / "evidence" / "cycle.py").write_text("import sync.link\n")
    assert violations(tmp_path) == ["evidence/cycle.py imports sync", "station/sneaky.py imports firmware"]


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
