"""Where `enhance`'s time goes: `python -m mbsnet bench enhance --profile` (one process, one pass).

The model's parts are timed by forward hooks (CPU seconds, time.process_time: on a shared machine
the CPU time of a one-thread run is steadier than the wall clock): every leaf module (Linear,
Conv1d, LayerNorm, GroupNorm, activations) and every scan, grouped by where they sit (band split,
the temporal mixers, the cross-band mixer, the output nets, the decoders); a group's "other" is
what its modules' forward does between the leaves (elementwise ops, reshapes, copies). Outside the
model: STFT, iSTFT and the chunking of enhance_long. A second pass under torch.profiler gives
the aten ops with the most self CPU time.
"""
from __future__ import annotations

import collections
import time

GROUPS = ("band_split", "temporal", "crossband", "output", "decoder")


def _group(name: str) -> str:
    for g in GROUPS:
        if g in name:
            return g
    return "model"


def _is_container(name: str) -> bool:
    """The modules whose inclusive time a group's "other" is taken from: the band split, each
    temporal mixer, the cross-band mixer, the output nets and the decoders."""
    last = name.rsplit(".", 1)[-1]
    parent = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
    return (last in ("band_split", "crossband") or last.endswith(("_output", "_decoder"))
            or (parent == "temporal" and last.isdigit()))


def profile_enhance(seconds: float = 10.0, threads: int = 1, checkpoint=None, scan_method=None,
                    top_ops: int = 15) -> dict:
    """CPU seconds per part of enhancing `seconds` of generated noisy speech (after a 1 s warm-up).

    -> {"audio_seconds", "threads", "scan_method", "cpu_seconds", "wall_seconds",
        "parts": {"temporal: scan": s, "temporal: Linear": s, ..., "stft, istft, chunking": s},
        "ops": [{"name", "self_cpu_seconds", "calls"}, ...]}.
    """
    import torch
    import torch.nn as nn

    import mbsnet.model as model_module
    from mbsnet.checkpoint import load_model
    from mbsnet.enhance import enhance_long, set_scan_method
    from mbsnet.experiments.enhance_bench import noisy_speech

    if threads:
        torch.set_num_threads(threads)
    model = load_model(checkpoint)
    if scan_method:
        set_scan_method(model, scan_method)
    wav = noisy_speech(seconds)
    enhance_long(model, wav[:16_000], progress=False)

    cpu = collections.defaultdict(float)
    context = {"group": "model"}
    clock = time.process_time
    hooks = []

    def timed(label):
        def pre(module, inputs):
            module._profile_t0 = clock()

        def post(module, inputs, output):
            cpu[label] += clock() - module._profile_t0
        return pre, post

    containers = {name: _group(name) for name, module in model.named_modules()
                  if _is_container(name)}
    for name, module in model.named_modules():
        owner = next((g for c, g in containers.items() if name == c or name.startswith(c + ".")),
                     "model")
        if name in containers:
            label = f"{owner}: (all)"
        elif name and not list(module.children()):                        # a leaf
            label = f"{owner}: {type(module).__name__}"
        else:
            label = None
        if isinstance(module, model_module.MambaBlock):
            hooks.append(module.register_forward_pre_hook(
                lambda m, i, g=owner: context.update(group=g)))
        if label:
            pre, post = timed(label)
            hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    scan = model_module.selective_scan

    def timed_scan(*args, **kwargs):
        t0 = clock()
        out = scan(*args, **kwargs)
        cpu[f"{context['group']}: scan"] += clock() - t0
        return out

    model_module.selective_scan = timed_scan
    try:
        t0, c0 = time.perf_counter(), clock()
        model_seconds = _model_seconds(model, lambda: enhance_long(model, wav, progress=False))
        wall, total = time.perf_counter() - t0, clock() - c0
    finally:
        model_module.selective_scan = scan
        for h in hooks:
            h.remove()
    parts = _parts(cpu, model_seconds, total, nn)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        enhance_long(model, wav, progress=False)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top_ops]
    ops = [{"name": e.key, "self_cpu_seconds": e.self_cpu_time_total / 1e6, "calls": e.count}
           for e in events]
    return {"audio_seconds": seconds, "threads": torch.get_num_threads(),
            "scan_method": scan_method or model.cfg.scan_method, "cpu_seconds": total,
            "wall_seconds": wall, "parts": parts, "ops": ops}


def _model_seconds(model, run) -> float:
    """Run `run()`, returning the CPU seconds spent inside model.forward."""
    spent = [0.0]

    def pre(module, inputs):
        module._profile_total = time.process_time()

    def post(module, inputs, output):
        spent[0] += time.process_time() - module._profile_total
    hooks = [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return spent[0]


def _parts(cpu: dict, model_seconds: float, total: float, nn) -> dict:
    """Leaf and scan times per group; each group's (all) minus its leaves and scans -> "other"."""
    parts = {k: v for k, v in cpu.items() if not k.endswith("(all)")}
    for label, inclusive in cpu.items():
        if label.endswith("(all)"):
            group = label.split(":")[0]
            inside = sum(v for k, v in parts.items() if k.startswith(group + ":"))
            parts[f"{group}: other"] = max(0.0, inclusive - inside)
    parts["model: other"] = max(0.0, model_seconds - sum(parts.values()))
    parts["stft, istft, chunking"] = max(0.0, total - model_seconds)
    return dict(sorted(parts.items(), key=lambda kv: -kv[1]))


def format_profile(result: dict) -> str:
    """Plain-text table: each part's CPU seconds and share, then the top aten ops."""
    total = result["cpu_seconds"]
    lines = [f"enhance {result['audio_seconds']:g} s of audio, {result['threads']} thread(s), scan "
             f"{result['scan_method']!r}: {total:.2f} CPU s (RTF {total / result['audio_seconds']:.3f})",
             f"    {'part':<34} {'CPU s':>7} {'share':>6}"]
    lines += [f"    {k:<34} {v:7.3f} {v / total:6.1%}" for k, v in result["parts"].items() if v > 0]
    lines.append(f"    {'aten op (torch.profiler)':<34} {'self s':>7} {'calls':>6}")
    lines += [f"    {op['name'][:34]:<34} {op['self_cpu_seconds']:7.3f} {op['calls']:6d}"
              for op in result["ops"]]
    return "\n".join(lines)
