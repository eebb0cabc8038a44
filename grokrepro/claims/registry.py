"""Check functions by name. A spec names a check's kind; its params are validated by the check's model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel


@dataclass(frozen=True)
class CheckKind:
    function: Callable
    params_model: type[BaseModel]


CHECKS: dict[str, CheckKind] = {}


def check(kind: str, params_model: type[BaseModel]):
    def register(function):
        CHECKS[kind] = CheckKind(function, params_model)
        return function

    return register


def _load_claim_modules() -> None:
    # Importing the claim modules fills CHECKS.
    from grokrepro.claims import grokking, lazy_to_rich, lmn_compression  # noqa: F401
    from grokrepro.claims import early_abort, spectral_prediction  # noqa: F401


_load_claim_modules()
