"""E-LANG: energy-based joint inference of Super and Swift models.

A small, fast *Swift* model answers every input; its negative free energy says
how well the input fits what it knows, and inputs below a threshold are forwarded
to the large, accurate *Super* model.
"""

__version__ = "0.1.0.dev0"

from elang_sk._cache import OutputCache

__all__ = ["OutputCache", "__version__"]
