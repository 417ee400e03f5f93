"""MetaOpCache: the same bytes and tensors as running every meta op, on models with loops and in-place ops."""
import torch

from mbsnet.experiments.own_model import mamba, transformer
from mbsnet.memory import predict_training_peak
from mbsnet.memory.metacache import MetaOpCache


def _args(spec):
    return spec["build"], spec["batch"], spec["loss"], spec.get("optimizer")


def test_cached_prediction_equals_the_uncached_one_tensor_for_tensor():
    for spec in (mamba(), transformer(seq=16)):
        a = predict_training_peak(*_args(spec), top=100_000)
        b = predict_training_peak(*_args(spec), top=100_000, meta_cache=False)
        assert (a.peak_bytes, a.categories, a.modules, a.largest) == (b.peak_bytes, b.categories,
                                                                       b.modules, b.largest)


def test_a_repeated_op_is_a_hit_with_the_recorded_metadata_and_a_fresh_storage():
    cache = MetaOpCache()
    x = torch.empty(4, 6, device="meta").t()          # non-contiguous: strides matter
    add = torch.ops.aten.add.Tensor
    first = cache.run(add, (x, x), {})
    second = cache.run(add, (x, x), {})
    assert (cache.hits, cache.misses) == (1, 1)
    assert (second.shape, second.stride(), second.dtype) == (first.shape, first.stride(), first.dtype)
    assert second.untyped_storage() is not first.untyped_storage()
    y = torch.empty(6, 4, device="meta")
    assert cache.run(add, (y, y), {}).stride() == y.stride() and cache.misses == 2


def test_cpu_tensors_are_never_cached():
    cache = MetaOpCache()
    c = torch.ones(3)
    for _ in range(2):
        assert cache.run(torch.ops.aten.add.Tensor, (c, c), {}).tolist() == [2.0, 2.0, 2.0]
    assert cache.hits == 0


def test_an_in_place_op_is_a_hit_that_returns_its_argument():
    cache = MetaOpCache()
    x, y = torch.empty(3, device="meta"), torch.empty(3, device="meta")
    assert cache.run(torch.ops.aten.mul_.Tensor, (x, x), {}) is x
    assert cache.run(torch.ops.aten.mul_.Tensor, (y, y), {}) is y and cache.hits == 1
    xs = [torch.empty(2, device="meta"), torch.empty(4, device="meta")]
    for _ in range(2):
        assert cache.run(torch.ops.aten._foreach_mul_.Scalar, (xs, 0.5), {}) is None
    assert cache.hits == 2
    z = torch.empty(2, 3, device="meta")                  # metadata changed: never a hit
    for _ in range(2):
        cache.run(torch.ops.aten.transpose_.default, (z, 0, 1), {})
    assert cache.hits == 2 and z.shape == (2, 3)
