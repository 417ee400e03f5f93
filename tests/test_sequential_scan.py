"""The seed's sequential scan against a float64 oracle written independently here."""
import pytest
import torch
import torch.nn.functional as F

from mbsnet.ssm import selective_scan


def oracle(u, delta, A, B, C, D, z, delta_bias):
    """Float64 recurrence, one (batch, channel, state) element at a time in vector form."""
    u, delta, A, B, C = (t.double() for t in (u, delta, A, B, C))
    dt = F.softplus(delta + delta_bias.double())
    b, l, d = u.shape
    h = torch.zeros(b, d, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(l):
        a_bar = torch.exp(dt[:, t, :, None] * A[None])                      # (b, d, n)
        h = a_bar * h + dt[:, t, :, None] * B[:, t, None, :] * u[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1) + D.double() * u[:, t])
    y = torch.stack(ys, 1)
    return y * z.double() * torch.sigmoid(z.double())


def random_inputs(b, l, d, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)
    return dict(u=r(b, l, d), delta=r(b, l, d) * 0.5, A=-torch.rand(d, n, generator=g) * 4 - 0.1,
                B=r(b, l, n), C=r(b, l, n), D=r(d), z=r(b, l, d), delta_bias=r(d) * 0.1)


@pytest.mark.parametrize("b,l,d,n", [(1, 1, 1, 1), (2, 13, 5, 3), (3, 40, 8, 16)])
def test_sequential_matches_float64_oracle_forward_and_gradients(b, l, d, n):
    inputs = random_inputs(b, l, d, n)
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y = selective_scan(**leaves, delta_softplus=True, method="sequential")
    leaves64 = {k: v.double().clone().requires_grad_(True) for k, v in inputs.items()}
    y64 = oracle(**leaves64)
    torch.testing.assert_close(y.double(), y64, rtol=6e-4, atol=2e-3)
    g = torch.randn_like(y)
    y.backward(g)
    y64.backward(g.double())
    for k in leaves:
        torch.testing.assert_close(leaves[k].grad.double(), leaves64[k].grad, rtol=6e-4, atol=2e-3,
                                   msg=lambda m, k=k: f"grad of {k}: {m}")


def test_bad_shapes_are_named():
    x = random_inputs(1, 4, 3, 2)
    x["B"] = x["B"][:, :2]
    with pytest.raises(ValueError, match="B must be"):
        selective_scan(**x, method="sequential")
