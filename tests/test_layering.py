"""The package layering of DESIGN.md ("Package layout"): a package imports only the packages
below it. Every module of a checked package is parsed with ``ast`` — imports inside functions
and ``TYPE_CHECKING`` blocks included — so a lazy import cannot hide an upward dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hccfusion"

#: package → the ``hccfusion`` top-level names it may import (besides itself). Add a package
#: here when its imports are cleaned up.
ALLOWED: dict[str, frozenset[str]] = {
    "training": frozenset({"models", "io", "endpoints", "clinical", "types", "errors"}),
}


def _imported(module: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every ``hccfusion`` module imported anywhere in ``module``."""
    # the importing module's package, e.g. ("hccfusion", "training") for training/loop.py and
    # for training/__init__.py alike
    package = module.relative_to(SRC.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"), filename=str(module))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = list(package[:len(package) - node.level + 1])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "hccfusion":  # from hccfusion import x
                found += [(node.lineno, f"hccfusion.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, name))
    return sorted((line, name) for line, name in found
                  if name == "hccfusion" or name.startswith("hccfusion."))


def _violations(package: str) -> list[str]:
    allowed = ALLOWED[package] | {package}
    out = []
    for module in sorted((SRC / package).rglob("*.py")):
        for line, name in _imported(module):
            top = name.split(".")[1] if "." in name else ""
            if top not in allowed:
                out.append(f"{module.relative_to(SRC.parents[1])}:{line} imports {name} "
                           f"({package} may import only {sorted(ALLOWED[package])})")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_below_it(package):
    assert (SRC / package).is_dir()
    violations = _violations(package)
    assert not violations, "upward imports:\n" + "\n".join(violations)


def test_the_checker_sees_lazy_relative_and_from_package_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "src" / "hccfusion" / "training"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text(
        "from hccfusion.io import cohort\n"
        "from hccfusion import errors\n"
        "def f():\n"
        "    from hccfusion.evaluation.cutoffs import MedianCutoff\n"
        "    import hccfusion.pipeline.train\n"
        "    from ..reporting import figures\n"
        "    from hccfusion import mechanism\n"
        "    from . import loop\n")
    monkeypatch.setitem(globals(), "SRC", tmp_path / "src" / "hccfusion")
    found = _violations("training")
    assert [v.split(" imports ")[1].split(" (")[0] for v in found] == [
        "hccfusion.evaluation.cutoffs", "hccfusion.pipeline.train", "hccfusion.reporting",
        "hccfusion.mechanism"]
    assert found[0].startswith("src/hccfusion/training/bad.py:4 imports")
