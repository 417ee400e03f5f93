"""The one configuration object of MBS-Net.

Every knob that the optimization ladder turns is a field of `MBSNetConfig`; presets are
instances of it (see `mbsnet.presets`). The dataclass is frozen, so a preset derived with
`dataclasses.replace` can never change its parent by accident.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

SCAN_METHODS = ("sequential", "chunked", "recompute", "compiled", "native")
DIRECTIONS = ("bi", "uni")
ENCODERS = ("separate", "shared")
OUTPUT_NETS = ("mlp", "linear")
DECODERS = ("per_band", "shared_hidden")
CHECKPOINTING = ("none", "mixers", "blocks")
PRECISIONS = ("fp32", "bf16", "fp16")
# Fields added after the first release: to_dict() names them only when they differ from these
# defaults, so the configs stored in older checkpoints and results still compare equal.
_LATER_FIELDS = {"activation_checkpointing": "none", "precision": "fp32", "mask_floor_db": None}
# Fields that change how a step runs, not the function computed or the weights: a run may resume,
# warm-start or ship under other values of these (the scan methods are checked equal in tests/).
RUNTIME_FIELDS = ("activation_checkpointing", "precision", "scan_method")
# Fields that change the output but not the weights: an inference setting of a trained model.
INFERENCE_FIELDS = ("mask_floor_db",)

# BSRNN's speech band split for 16 kHz, n_fft 512 (sungwon23/BSRNN): 31 bands, 257 bins.
SEED_BAND_WIDTHS = (2,) + (3,) * 10 + (8,) * 12 + (16,) * 7 + (17,)


@dataclass(frozen=True)
class MBSNetConfig:
    """Architecture, front end and scan settings of one MBS-Net variant.

    Front end: `sample_rate`, `n_fft`, `hop_length` (Hann window, center=True).
    Band split: `band_widths` (bins per band, summing to n_fft // 2 + 1), `channels` (N).
    Mamba: `expand` (d_inner = expand * channels), `d_state` (n), `d_conv`, `dt_rank`
    (0 means ceil(d_inner / 16), mamba-ssm's "auto").
    Topology: `n_layers` temporal blocks per encoder, `temporal_direction` and
    `crossband_direction` ("bi" or "uni"), `encoder` ("separate": one encoder per
    magnitude/phase branch, as in the seed; "shared": one encoder, two heads).
    Heads: `output_net` ("mlp": Linear(c, 2c)-Tanh-Linear(2c, c); "linear": Linear(c, c)),
    `decoder` ("per_band": a GroupNorm-MLP per band; "shared_hidden": one GroupNorm-MLP
    shared by all bands with a band-wise output layer) with hidden size `decoder_hidden`.
    Scan: `scan_method`, `scan_chunk_size`, `scan_clamps` (the authors' clamps, chunked only).
    Training-time memory remedies (they change no weight and no output):
    `activation_checkpointing` ("none"; "mixers": each sequence-mixer layer, i.e. each temporal
    layer and the cross-band mixer, runs under a non-reentrant `torch.utils.checkpoint` and is
    recomputed in backward; "blocks": each MambaBlock, finer: a BiMamba's two directions
    separately, its merge and norm not) and `precision` ("fp32"; "bf16" / "fp16": the forward
    pass under CUDA autocast, fp16 with a GradScaler; on a CPU the trainer runs fp32).
    Inference: `mask_floor_db` (None: the sigmoid magnitude mask as trained; a level in dB below
    0: the mask is held at or above it, an attenuation limit that keeps the model from carving
    deep holes into the spectrum; it changes the output, not the weights).
    """

    name: str = "custom"
    sample_rate: int = 16_000
    n_fft: int = 512
    hop_length: int = 128
    band_widths: tuple[int, ...] = SEED_BAND_WIDTHS
    channels: int = 128
    n_layers: int = 4
    expand: float = 2
    d_state: int = 16
    d_conv: int = 4
    dt_rank: int = 0
    temporal_direction: str = "bi"
    crossband_direction: str = "bi"
    encoder: str = "separate"
    output_net: str = "mlp"
    decoder: str = "per_band"
    decoder_hidden: int = 512
    scan_method: str = "sequential"
    scan_chunk_size: int = 64
    scan_clamps: bool = False
    activation_checkpointing: str = "none"
    precision: str = "fp32"
    mask_floor_db: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "band_widths", tuple(int(w) for w in self.band_widths))
        self._validate()

    # Derived sizes -------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_bands(self) -> int:
        return len(self.band_widths)

    @property
    def d_inner(self) -> int:
        return int(round(self.expand * self.channels))

    @property
    def dt_rank_value(self) -> int:
        return self.dt_rank if self.dt_rank > 0 else math.ceil(self.d_inner / 16)

    def frames(self, seconds: float) -> int:
        """STFT frames of a `seconds`-long segment (center=True): 2 s at 16 kHz -> 251."""
        return int(round(seconds * self.sample_rate)) // self.hop_length + 1

    def to_dict(self) -> dict:
        """All fields, except the later ones (activation_checkpointing, precision, mask_floor_db) at
        their defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if _LATER_FIELDS.get(f.name, object()) != getattr(self, f.name)}

    # Validation ----------------------------------------------------------------------------
    def _validate(self) -> None:
        def bad(field: str, why: str):
            raise ValueError(f"MBSNetConfig.{field}: {why}")

        for field in ("sample_rate", "n_fft", "hop_length", "channels", "d_state", "d_conv",
                      "decoder_hidden", "scan_chunk_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(field, f"must be a positive integer, got {value!r}")
        if self.n_layers < 0:
            bad("n_layers", f"must be >= 0, got {self.n_layers!r}")
        if self.dt_rank < 0:
            bad("dt_rank", f"must be >= 0 (0 = auto), got {self.dt_rank!r}")
        if not self.band_widths or min(self.band_widths) < 1:
            bad("band_widths", "must be a non-empty list of positive widths")
        if sum(self.band_widths) != self.n_bins:
            bad("band_widths", f"sum to {sum(self.band_widths)} bins, but n_fft={self.n_fft} "
                               f"gives n_fft // 2 + 1 = {self.n_bins}")
        if not self.expand > 0:
            bad("expand", f"must be > 0, got {self.expand!r}")
        if abs(self.expand * self.channels - self.d_inner) > 1e-6:
            bad("expand", f"expand * channels = {self.expand * self.channels} is not an integer")
        for field, allowed in (("temporal_direction", DIRECTIONS), ("crossband_direction", DIRECTIONS),
                               ("encoder", ENCODERS), ("output_net", OUTPUT_NETS),
                               ("decoder", DECODERS), ("scan_method", SCAN_METHODS),
                               ("activation_checkpointing", CHECKPOINTING), ("precision", PRECISIONS)):
            if getattr(self, field) not in allowed:
                bad(field, f"unknown value {getattr(self, field)!r}; choose one of {allowed}")
        if self.mask_floor_db is not None and (isinstance(self.mask_floor_db, bool)
                                               or not isinstance(self.mask_floor_db, (int, float))
                                               or not -200 <= self.mask_floor_db < 0):
            bad("mask_floor_db", f"must be None or a level in dB in [-200, 0), got {self.mask_floor_db!r}")
        if self.scan_clamps and self.scan_method != "chunked":
            bad("scan_clamps", "the authors' clamps exist only in the 'chunked' scan")
