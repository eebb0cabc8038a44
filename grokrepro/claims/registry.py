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
    # Importing the claim modules fills CHECKS.
    from grokrepro.claims import (  # noqa: F401
        critical_dataset_size,
        early_abort,
        grokking,
        kernel_vs_rich,
        lazy_to_rich,
        lmn_compression,
        semi_grokking,
        spectral_prediction,
        ungrokking,
    )


_load_claim_modules()
