import pytest
import torch

from grokrepro.metrics.lmn import connectivity, linear_mapping_number, mapping_number


def test_linear_map_has_lmn_one():
    torch.manual_seed(0)
    linear = torch.nn.Linear(10, 5)
    assert linear_mapping_number(torch.randn(30, 10), linear) == pytest.approx(1.0, abs=1e-4)  # float32 forward passes


@pytest.mark.parametrize("clusters", [2, 3, 5])
def test_equal_all_ones_blocks_give_their_count(clusters):
    matrix = torch.block_diag(*[torch.ones(4, 4)] * clusters)
    assert mapping_number(matrix) == pytest.approx(clusters)


def test_sample_order_does_not_matter():
    torch.manual_seed(1)
    network = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.SiLU(), torch.nn.Linear(16, 4))
    samples = torch.randn(25, 6)
    shuffled = samples[torch.randperm(25)]
    assert linear_mapping_number(samples, network) == pytest.approx(linear_mapping_number(shuffled, network),
                                                                    rel=1e-6)


def test_nonlinear_map_is_above_one_and_matrix_is_symmetric():
    torch.manual_seed(2)
    network = torch.nn.Sequential(torch.nn.Linear(6, 64), torch.nn.Tanh(), torch.nn.Linear(64, 4))
    samples = 5 * torch.randn(20, 6)
    matrix = connectivity(samples, network)
    assert torch.allclose(matrix, matrix.T) and torch.all(matrix.diagonal() == 1)
    assert linear_mapping_number(samples, network) > 1.05
