"""Parameter accounting: where a model's parameters are, per component."""
from __future__ import annotations

import torch.nn as nn

_ENCODERS = ("magnitude_encoder", "phase_encoder", "shared_encoder")


def component_of(parameter_name: str) -> str:
    """Map a parameter name to its component, e.g. 'phase_encoder.crossband'."""
    parts = parameter_name.split(".")
    if parts[0] in _ENCODERS:
        return f"{parts[0]}.{'temporal' if parts[1] == 'temporal' else 'crossband'}"
    return parts[0]


class Breakdown(dict):
    """{component: parameter count}, in model order, with a printable table."""

    @property
    def total(self) -> int:
        return sum(self.values())

    def share(self, component: str) -> float:
        return self[component] / self.total

    def grouped(self) -> dict[str, int]:
        """Coarse groups: band split, encoders (Mamba stacks), output nets, decoders."""
        groups: dict[str, int] = {}
        for name, count in self.items():
            group = ("encoders (Mamba)" if "encoder" in name else "decoders" if "decoder" in name
                     else "output nets" if "output" in name else "band split")
            groups[group] = groups.get(group, 0) + count
        return groups

    def table(self) -> str:
        width = max(len(k) for k in self) + 2
        lines = [f"{'component':<{width}}{'parameters':>12}{'share':>8}"]
        lines += [f"{k:<{width}}{v:>12,}{v / self.total:>8.1%}" for k, v in self.items()]
        lines.append(f"{'total':<{width}}{self.total:>12,}{1:>8.1%}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        return {"total": self.total, "components": dict(self), "groups": self.grouped()}


def count(model: nn.Module) -> int:
    """Total trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def breakdown(model: nn.Module) -> Breakdown:
    """Parameter counts per component (band split; each encoder's temporal and cross-band
    Mamba; each output net; each decoder)."""
    result = Breakdown()
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = component_of(name)
            result[key] = result.get(key, 0) + p.numel()
    return result
