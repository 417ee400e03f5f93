"""The seed model: parameter count, shapes, input checks, config validation."""
import dataclasses
from dataclasses import replace

import pytest
import torch

from mbsnet import build_model, presets
from mbsnet.config import MBSNetConfig
from mbsnet.params import breakdown


@pytest.fixture(scope="module")
def seed_model():
    torch.manual_seed(0)
    return build_model(presets.get("seed")).eval()


def test_seed_preset_has_7_33M_parameters(seed_model):
    total = breakdown(seed_model).total
    assert abs(total - 7_325_830) <= 0.001 * 7_325_830
    assert total == 7_325_830  # our count matches DESIGN.md's independent count exactly


def test_decoders_hold_60_percent_of_the_seed(seed_model):
    groups = breakdown(seed_model).grouped()
    assert groups["decoders"] == 2 * 2_187_265
    assert 0.59 < groups["decoders"] / sum(groups.values()) < 0.61


def test_mamba_block_parameter_formula():
    """in_proj 2Ed^2 + conv E d (k+1) + x_proj_dt E d R + dt_proj (R+1) E d + B,C 2 E d N
    + A_log E d N + D E d + out_proj E d^2 + LayerNorm 2d."""
    from mbsnet.model import MambaBlock

    for expand, n in [(2, 16), (1, 8), (1.5, 12)]:
        cfg = replace(presets.get("seed"), expand=expand, d_state=n)
        d, E = cfg.channels, cfg.expand
        di, R, k = cfg.d_inner, cfg.dt_rank_value, cfg.d_conv
        assert di == E * d
        formula = 2 * di * d + di * (k + 1) + di * R + (R + 1) * di + 3 * di * n + di + di * d + 2 * d
        assert sum(p.numel() for p in MambaBlock(cfg).parameters()) == formula


@pytest.mark.parametrize("batch,frames", [(1, 1), (2, 7), (3, 33)])
def test_forward_maps_complex_stft_to_same_shape(seed_model, batch, frames):
    spec = torch.randn(batch, 257, frames, dtype=torch.complex64)
    with torch.no_grad():
        out = seed_model(spec)
    assert out.shape == spec.shape and out.is_complex()
    assert torch.isfinite(torch.view_as_real(out)).all()


def test_real_input_gives_a_clear_error(seed_model):
    with pytest.raises(TypeError, match="complex STFT"):
        seed_model(torch.randn(1, 257, 10))


def test_wrong_number_of_bins_gives_a_clear_error(seed_model):
    with pytest.raises(ValueError, match="257"):
        seed_model(torch.randn(1, 256, 10, dtype=torch.complex64))


def test_every_ladder_preset_builds_and_runs():
    spec = torch.randn(1, 257, 5, dtype=torch.complex64)
    for name in presets.names():
        cfg = presets.get(name)
        if cfg.scan_method != "sequential":
            cfg = replace(cfg, scan_method="sequential")  # scan methods are tested in test_ssm
        with torch.no_grad():
            assert build_model(cfg)(spec).shape == spec.shape, name


def test_ladder_steps_change_exactly_one_field():
    names = presets.names()
    assert names[0] == "seed" and names[-1] == "final"
    for name in names[1:-1]:
        assert names.index(presets.parent(name)) < names.index(name)
        assert len(presets.changes(name)) == 1, (name, presets.changes(name))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(KeyError, match="seed"):
        presets.get("nope")


@pytest.mark.parametrize("change,field", [
    (dict(band_widths=(2, 3)), "band_widths"),
    (dict(d_state=0), "d_state"),
    (dict(scan_method="magic"), "scan_method"),
    (dict(expand=0), "expand"),
    (dict(expand=1.001), "expand"),
    (dict(temporal_direction="sideways"), "temporal_direction"),
    (dict(decoder="huge"), "decoder"),
    (dict(scan_clamps=True), "scan_clamps"),
    (dict(mask_floor_db=0), "mask_floor_db"),
    (dict(mask_floor_db=6.0), "mask_floor_db"),
    (dict(mask_floor_db="-20"), "mask_floor_db"),
])
def test_invalid_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        MBSNetConfig(**change)


def test_a_mask_floor_holds_the_magnitude_mask_and_leaves_the_weights_and_the_phase_alone():
    from mbsnet.checkpoint import architecture_diff

    torch.manual_seed(0)
    cfg = dataclasses.replace(presets.get("final"), channels=16, n_layers=1, d_state=4, decoder_hidden=32)
    free = build_model(cfg).eval()
    floored = build_model(dataclasses.replace(cfg, mask_floor_db=-6.0)).eval()
    floored.load_state_dict(free.state_dict())
    spec = torch.stft(torch.randn(1, 8000), 512, 128, window=torch.hann_window(512), return_complex=True)
    with torch.no_grad():
        a, b = free(spec), floored(spec)
    mask_a, mask_b = a.abs() / spec.abs(), b.abs() / spec.abs()
    g = 10 ** (-6 / 20)
    assert mask_b.min() >= g * (1 - 1e-5) and mask_a.min() < g           # the floor binds somewhere
    torch.testing.assert_close(mask_b, mask_a.clamp_min(g), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.angle(b), torch.angle(a))
    assert architecture_diff(cfg, floored.cfg) == {} and "mask_floor_db" not in cfg.to_dict()


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        presets.get("seed").d_state = 8
    assert presets.get("seed").d_state == 16


def test_frames_of_a_two_second_segment():
    assert presets.get("seed").frames(2.0) == 251


def test_public_interface_is_reachable_from_the_package(seed_model):
    """What the package docstring advertises works through `mbsnet.` (its names load lazily)."""
    import mbsnet
    from mbsnet.memory import measure, predict

    assert mbsnet.params.breakdown(seed_model).total == 7_325_830
    assert mbsnet.presets.names()[0] == "seed" and mbsnet.build_model is build_model
    assert mbsnet.memory.predict_peak is predict.predict_peak
    assert mbsnet.memory.measure_peak is measure.measure_peak
    # the selective scan, two steps by hand: h1 = d1 B1 u1, h2 = exp(d2 A) h1 + d2 B2 u2, y_t = <h_t, C_t>
    u, delta = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[0.5], [0.25]]])
    A = torch.tensor([[-1.0, -2.0]])
    B, C = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]), torch.tensor([[[1.0, 1.0], [0.5, -1.0]]])
    h1 = 0.5 * B[0, 0] * 1.0
    h2 = torch.exp(0.25 * A[0]) * h1 + 0.25 * B[0, 1] * 2.0
    expected = torch.stack([(h1 * C[0, 0]).sum(), (h2 * C[0, 1]).sum()]).reshape(1, 2, 1)
    for method in mbsnet.ssm.SCAN_METHODS:
        torch.testing.assert_close(mbsnet.ssm.selective_scan(u, delta, A, B, C, method=method), expected,
                                   msg=method)
