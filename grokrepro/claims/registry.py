"""Check functions by name. A spec names a check's kind; its params are validated by the check's model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel


@dataclass(frozen=True)
class CheckKind:
    function: Callable
    params_model: type[BaseModel]
    # A check that also reads other claims' curves gets them as `others={claim: curves}`.
    reads_other_claims: bool = False


CHECKS: dict[str, CheckKind] = {}


def check(kind: str, params_model: type[BaseModel], reads_other_claims: bool = False):
    def register(function):
        CHECKS[kind] = CheckKind(function, params_model, reads_other_claims)
        return function

    return register


def _load_claim_modules() -> None:
    """Import every module of grokrepro.claims: each registers its check kinds as it is imported, so a new
    check module is found by being there."""
    import importlib
    import pkgutil

    import grokrepro.claims as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"grokrepro.claims.{module.name}")


_load_claim_modules()
