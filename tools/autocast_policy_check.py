"""Compare mbsnet.precision's CUDA-autocast emulation with torch's own CUDA autocast policy, op by op.

Two halves, because torch's CUDA policy needs a CUDA build of torch (no GPU here: FakeTensorMode
with fake CUDA tensors) while the project's venv has the CPU build:

    # 1. in a throwaway venv with a CUDA build of torch (e.g. /tmp/cudatorch, torch 2.14.1+cu130):
    PYTHONPATH=$PWD /tmp/cudatorch/bin/python tools/autocast_policy_check.py cuda /tmp/cuda_ops.json
    # 2. in the project's venv: the emulation on meta tensors, the comparison, the stored result
    PYTHONPATH=$PWD .venv/bin/python tools/autocast_policy_check.py compare /tmp/cuda_ops.json \
        results/autocast_policy_check.json

Every op of OPS runs under autocast (bf16 and fp16) on three input variants: all fp32, all in the
lower precision, and mixed (first input lower, the rest fp32); a dispatch mode below autocast
records the dtypes its first computing aten op receives, after autocast's casts (the policy), and
stops it there. The autocast kernels of linear, the matmul family, conv, layer_norm, group_norm
and einsum set a CUDA device guard before casting, which needs a driver: on a machine without
one those rows are "error: AcceleratorError" and are not compared (the emulation follows the
documented lists there); run this on a GPU machine to compare them too. The
comparison also lists the torch functions one forward pass of each preset calls under the
emulation and checks each is in OPS (a whole forward on fake CUDA tensors needs a CUDA driver for
its non-contiguous copies, so the model is checked through the ops it calls). No autograd: the
dtype policy does not depend on it.
"""
from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

PRESETS = ("seed", "chunked_scan", "final", "final_checkpointed", "authors_attempt")
SKIP = {"to", "__get__", "__set__", "dim", "size", "numel", "is_floating_point", "is_complex",
        "requires_grad_", "__len__", "__iter__", "__bool__", "__format__", "__repr__", "apply"}


def _w(x):        # a (4, 4) weight shaped like x's last dim
    return x[:4, :4] if x.dim() == 2 else x


# name -> (function of two (8, 4) tensors, or of the named inputs). Ops that the model calls, plus
# one or more of each autocast list.
OPS = {
    "linear": lambda a, b: F.linear(a, b[:4, :4]),
    "matmul": lambda a, b: torch.matmul(a, b.T),
    "__matmul__": lambda a, b: a @ b.T,
    "mm": lambda a, b: torch.mm(a, b.T),
    "bmm": lambda a, b: torch.bmm(a[None], b.T[None]),
    "addmm": lambda a, b: torch.addmm(a[:, :1], a, b[:4, :4]),
    "baddbmm": lambda a, b: torch.baddbmm(a[None], a[None], b[:4, :4][None]),
    "einsum": lambda a, b: torch.einsum("bdn,bn->bd", a.reshape(2, 4, 4), b[:2]),
    "conv1d": lambda a, b: F.conv1d(a.reshape(1, 4, 8).contiguous(), b[:4, :2].reshape(4, 1, 2), groups=4),
    "layer_norm": lambda a, b: F.layer_norm(a, (4,), b[0], b[1]),
    "group_norm": lambda a, b: F.group_norm(a.reshape(2, 4, 4), 1, b[0], b[1]),
    "softmax": lambda a, b: torch.softmax(a, -1),
    "log_softmax": lambda a, b: torch.log_softmax(a, -1),
    "softplus": lambda a, b: F.softplus(a),
    "exp": lambda a, b: torch.exp(a),
    "log": lambda a, b: torch.log(a),
    "pow": lambda a, b: torch.pow(a, 2),
    "__pow__": lambda a, b: a ** 0.3,
    "sum": lambda a, b: a.sum(),
    "prod": lambda a, b: a.prod(),
    "cumsum": lambda a, b: a.cumsum(0),
    "norm": lambda a, b: a.norm(),
    "l1_loss": lambda a, b: F.l1_loss(a, b),
    "mse_loss": lambda a, b: F.mse_loss(a, b),
    "rsqrt": lambda a, b: a.rsqrt(),
    "cat": lambda a, b: torch.cat([a, b]),
    "stack": lambda a, b: torch.stack([a, b]),
    "addcmul": lambda a, b: torch.addcmul(a, a, b),
    "addcdiv": lambda a, b: torch.addcdiv(a, a, b),
    "atan2": lambda a, b: torch.atan2(a, b),
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
    "div": lambda a, b: a / b,
    "neg": lambda a, b: -a,
    "sigmoid": lambda a, b: torch.sigmoid(a),
    "tanh": lambda a, b: torch.tanh(a),
    "silu": lambda a, b: F.silu(a),
    "abs": lambda a, b: a.abs(),
    "clamp": lambda a, b: a.clamp(-1, 1),
    "flip": lambda a, b: a.flip(0),
    "mean": lambda a, b: a.mean(),
    "polar": lambda a, b: torch.polar(a.abs(), b),
    "exp_": lambda a, b: a.clone().exp_(),
    "mul_": lambda a, b: a.clone().mul_(b),
    "addcmul_": lambda a, b: a.clone().addcmul_(a, b),
}


def _inputs(variant, lower, device):
    make = lambda dtype: torch.ones(8, 4, dtype=dtype, device=device)   # noqa: E731
    if variant == "fp32":
        return make(torch.float32), make(torch.float32)
    if variant == "lower":
        return make(lower), make(lower)
    return make(lower), make(torch.float32)


class _Stop(Exception):
    pass


class RunsIn(TorchDispatchMode):
    """Below autocast: the floating dtypes the first computing aten op receives (after autocast's
    casts), then stop, so the kernel never runs (on fake CUDA tensors some need a driver)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.is_view or func.namespace == "prim" or func in (torch.ops.aten._to_copy.default, torch.ops.aten.detach.default) \
                or func.__name__.split(".")[0] in ("ones", "empty", "clone", "alias", "lift_fresh"):
            return func(*args, **(kwargs or {}))
        dtypes = [str(t.dtype) for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor) and t.is_floating_point()]
        raise _Stop(f"{func.__name__.split('.')[0]}({', '.join(dtypes)})")


def table(device, autocast):
    """{"op/precision/variant": "aten_op(input dtypes)"} for every op of OPS: the dtypes the op's
    first computing aten op runs in, after autocast's casts."""
    out = {}
    for prec, lower in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        for name, fn in OPS.items():
            for variant in ("fp32", "lower", "mixed"):
                a, b = _inputs(variant, lower, device)
                key = f"{name}/{prec}/{variant}"
                try:
                    with autocast(lower), RunsIn():
                        fn(a, b)
                    out[key] = "no computing op"
                except _Stop as stop:
                    out[key] = stop.args[0]
                except Exception as exc:     # noqa: BLE001 - recorded, e.g. an op without an fp16 kernel
                    out[key] = f"error: {type(exc).__name__}"
    return out


def run_cuda(out_path):
    from torch._subclasses.fake_tensor import FakeTensorMode

    # torch.autocast("cuda") switches itself off when no GPU is present (and asks the device
    # whether it supports bf16); the dispatcher's AutocastCUDA policy itself needs no GPU: fake
    # CUDA tensors carry the AutocastCUDA key. The fake conv asks cuDNN for its backend: fixed.
    torch.cuda.is_available = lambda: True
    torch.cuda.is_bf16_supported = lambda *args, **kwargs: True
    torch._C._select_conv_backend = lambda *args, **kwargs: torch._C._ConvBackend.CudaDepthwise2d
    with FakeTensorMode():
        rows = table("cuda", lambda dtype: torch.autocast("cuda", dtype=dtype))
    result = {"torch": torch.__version__, "cuda": torch.version.cuda, "ops": rows,
              "note": "CUDA build of torch, no GPU: FakeTensorMode with fake CUDA tensors; "
                      "torch.cuda.is_available / is_bf16_supported patched to True and the conv "
                      "backend fixed to CudaDepthwise2d (no driver to ask)"}
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(len(rows), "rows", sum(v.startswith("error") for v in rows.values()), "errors")


class CallLog(TorchFunctionMode):
    """The names of the torch functions called (casts and attribute reads skipped)."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name not in SKIP:
            self.names.add(name)
        return func(*args, **(kwargs or {}))


def model_calls():
    """{preset: sorted names of the torch functions its forward calls under the emulation}."""
    from mbsnet import presets
    from mbsnet.model import build_model
    from mbsnet.precision import CudaAutocastEmulation

    out = {}
    for name in PRESETS:
        cfg = presets.get(name)
        with torch.device("meta"):
            model = build_model(cfg)
        x = torch.randn(1, cfg.n_bins, cfg.frames(0.05), dtype=torch.complex64, device="meta")
        log = CallLog()
        with torch.no_grad(), log, CudaAutocastEmulation(torch.bfloat16):
            model(x)
        out[name] = sorted(log.names)
    return out


def compare(cuda_path, out_path):
    from mbsnet.precision import CudaAutocastEmulation
    from mbsnet.results import save_result

    cuda = json.load(open(cuda_path))
    ours = table("meta", CudaAutocastEmulation)
    theirs = cuda["ops"]
    differ = {k: {"cuda": theirs[k], "emulation": ours.get(k)} for k in theirs
              if not theirs[k].startswith("error") and theirs[k] != ours.get(k)}
    calls = model_calls()
    layout = {"__getitem__", "chunk", "contiguous", "empty", "empty_like", "movedim", "new_zeros",
              "permute", "reshape", "split", "transpose", "unsqueeze", "zeros", "angle", "view",
              "promote_types"}
    uncovered = {p: [n for n in names if n not in OPS and n not in layout] for p, names in calls.items()}
    summary = {
        "what": "dtypes each op runs in under CUDA autocast: torch's own policy (a CUDA build under "
                "FakeTensorMode with fake CUDA tensors) vs mbsnet.precision.CudaAutocastEmulation on "
                "meta tensors; inputs all fp32, all lower precision, or mixed",
        "cuda_torch": cuda["torch"], "cuda_version": cuda["cuda"], "cuda_note": cuda["note"],
        "emulation_torch": torch.__version__, "ops": sorted(OPS), "rows_compared": len(theirs),
        "cuda_errors": sorted(k for k, v in theirs.items() if v.startswith("error")),
        "cuda_errors_why": "not run: the op's CUDA autocast kernel sets a device guard, which needs "
                           "a CUDA driver (none on the machine that ran this)",
        "differences": differ, "identical": not differ,
        "model_forward_calls": calls,
        "model_calls_not_in_ops": uncovered,
        "layout_ops_not_compared": sorted(layout),
        "table_cuda": theirs, "table_emulation": ours}
    save_result(out_path, summary)
    print(f"{len(theirs)} rows, {len(differ)} differ, cuda errors {len(summary['cuda_errors'])}")
    for k, v in list(differ.items())[:30]:
        print(" ", k, v)
    print("not covered:", uncovered)


if __name__ == "__main__":
    if sys.argv[1] == "cuda":
        run_cuda(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3])
