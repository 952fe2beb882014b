"""Every public class and function has a numpydoc docstring with an example.

The examples themselves run as doctests (``--doctest-modules``); this test
makes sure none is missing, in the package root, ``metrics``,
``distributed`` and ``datasets``.
"""

import inspect

import pytest

import elang_sk
import elang_sk.datasets
import elang_sk.distributed
import elang_sk.metrics


def public_names():
    modules = [
        (elang_sk, elang_sk.__all__),
        (elang_sk.datasets, getattr(elang_sk.datasets, "__all__", [])),
    ]
    for module in (elang_sk.metrics, elang_sk.distributed):
        modules.append((module, [n for n in dir(module) if not n.startswith("_")]))
    for module, names in modules:
        for name in names:
            obj = getattr(module, name)
            defined_here = getattr(obj, "__module__", "").startswith("elang_sk")
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and defined_here:
                yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize("name, obj", list(public_names()))
def test_public_name_has_an_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert "Examples\n--------" in doc, f"{name} has no Examples section"
