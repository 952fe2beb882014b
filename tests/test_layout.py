"""The package map in ``elang_sk/__init__.py`` is true.

Every module is in the map, and each layer imports (at module level) only
from the layers above it: helpers, metrics, routing, hf, joint, and what is
built on the public seams. ``datasets/`` stands alone.
"""

import ast
from pathlib import Path

import elang_sk

PACKAGE = Path(elang_sk.__file__).parent
HELPERS = {"_utils", "_validation", "_repr", "_fingerprint", "_cache"}
SEAMS = {
    "_plotting",
    "_persist",
    "distributed",
    "_protocol",
    "_protocol_translation",
    "_cli_predict",
    "_cli_serve",
    "__main__",
    "serving",
}


def layer(module):
    """The layer of a dotted module name relative to the package."""
    top = module.split(".")[0]
    if top in HELPERS:
        return 1
    if top == "metrics":
        return 2
    order = {"routing": 3, "hf": 4, "joint": 5}
    if top in order:
        return order[top]
    if top in SEAMS or top == "":
        return 6
    raise AssertionError(f"{module} is in no layer of the package map")


def module_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__").removesuffix("__init__")
        for node in ast.parse(path.read_text()).body:
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target.startswith("elang_sk."):
                    yield name, target.removeprefix("elang_sk.")


def test_every_module_is_mapped():
    doc = elang_sk.__doc__
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "datasets" or rel.name == "__init__.py":
            continue
        name = rel.name
        if name.startswith("_seq2seq_"):
            name = "_seq2seq_*.py"
        assert f"``{name}``" in doc, f"{rel} is missing from the package map"


def test_imports_run_downwards():
    upward = []
    for module, target in module_imports():
        if module.startswith("datasets") or target.startswith("datasets"):
            assert module.startswith("datasets") or module in (
                "",
                "_protocol",
                "_protocol_translation",
            ), (
                module,
                target,
            )
            continue
        if layer(target) > layer(module):
            upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(upward)


def test_only_hf_imports_torch_at_module_level():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "hf":
            continue
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("torch", "transformers") for n in names):
                found.append(str(rel))
    assert not found, found
