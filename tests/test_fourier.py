import math

import pytest
import torch

from grokrepro.metrics.fourier import trigonometric_share

P = 11


def cube(function):
    a, b, c = torch.meshgrid(torch.arange(P), torch.arange(P), torch.arange(P), indexing="ij")
    return function(a.double(), b.double(), c.double()).reshape(P * P, P)


def test_the_fourier_algorithm_of_addition_is_all_on_its_frequencies():
    logits = cube(lambda a, b, c: 3 * torch.cos(2 * math.pi * 2 * (a + b - c) / P + 0.3)
                  + torch.cos(2 * math.pi * 5 * (a + b - c) / P))
    assert trigonometric_share(logits, P).item() == pytest.approx(1.0)
    # a shift per pair is invisible to softmax and is ignored
    shifted = logits + cube(lambda a, b, c: 7 * a * b + 0 * c)
    assert trigonometric_share(shifted, P).item() == pytest.approx(1.0)


def test_subtraction_lives_elsewhere_and_memorisation_spreads_out():
    subtraction = cube(lambda a, b, c: torch.cos(2 * math.pi * 3 * (a - b - c) / P))
    assert trigonometric_share(subtraction, P, "x-y").item() == pytest.approx(1.0)
    assert trigonometric_share(subtraction, P, "x+y").item() < 0.05
    random = torch.randn(4, P * P, P, generator=torch.Generator().manual_seed(0))
    # (P - 1) of the P^3 - P^2 centred coefficients: norm share about sqrt(1 / (P (P - 1)))
    assert (trigonometric_share(random, P) < 0.25).all()


def test_the_share_is_of_norm_not_of_squared_norm():
    signal = cube(lambda a, b, c: torch.cos(2 * math.pi * (a + b - c) / P))
    noise = cube(lambda a, b, c: torch.cos(2 * math.pi * (a - b - c) / P))  # orthogonal, same norm
    assert trigonometric_share(signal + noise, P).item() == pytest.approx(math.sqrt(0.5))


def test_unknown_operations_are_refused():
    with pytest.raises(ValueError, match="no trigonometric subspace"):
        trigonometric_share(torch.zeros(P * P, P), P, "x/y")
