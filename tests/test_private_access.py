"""No module reads or writes another class's private attributes.

The AST of every module of the package is walked: an attribute access
``obj._name`` (not a dunder) is allowed on ``self``/``cls`` and on names the
module itself defines (its own classes, helpers and objects it builds), and
refused when ``_name`` is a private attribute that only *other* modules of
the package define. The layers talk through public seams (``route_stage``,
``fitted_state``, ``restore_fitted_state``, ``cost_per_input`` ...).
"""

import ast
from pathlib import Path

import elang_sk

PACKAGE = Path(elang_sk.__file__).parent


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_private(tree):
    """Private names a module defines: methods, class attributes, self._x = ..."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if _private(node.name):
                names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if (
                        isinstance(sub, ast.Attribute)
                        and _private(sub.attr)
                        and isinstance(sub.value, ast.Name)
                        and sub.value.id in ("self", "cls")
                    ):
                        names.add(sub.attr)
                    elif isinstance(sub, ast.Name) and _private(sub.id):
                        names.add(sub.id)
        elif isinstance(node, ast.Call):  # setattr(self, "_x", ...), __dict__
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if _private(arg.value):
                        names.add(arg.value)
    return names


def cross_module_private_access(sources):
    """``file:line: .name`` of every cross-module private access in ``sources``."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    defined = {name: _defined_private(tree) for name, tree in trees.items()}
    everywhere = set().union(*defined.values())
    found = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            # Private names of other libraries (sklearn's _safe_indexing,
            # torch's _C ...) are not another class of ours.
            if node.attr in defined[module] or node.attr not in everywhere:
                continue
            found.append(f"{module}:{node.lineno}: .{node.attr}")
    return found


def test_the_check_finds_cross_module_access():
    """The checker flags a read and a write of another module's private state."""
    sources = {
        "a.py": "class A:\n    def _hook(self):\n        self._state = 1\n",
        "b.py": "def serve(a):\n    a._hook()\n    a._state = 2\n    a.__class__\n",
    }
    assert sorted(cross_module_private_access(sources)) == [
        "b.py:2: ._hook",
        "b.py:3: ._state",
    ]


def test_no_cross_module_private_attribute_access():
    sources = {str(path.relative_to(PACKAGE)): path.read_text() for path in _modules()}
    violations = cross_module_private_access(sources)
    assert not violations, "Cross-module private access:\n" + "\n".join(violations)
