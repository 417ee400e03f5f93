"""Units of memory: binary multiples (MiB, GiB), as PyTorch and nvidia-smi report them."""
KiB = 2 ** 10
MiB = 2 ** 20
GiB = 2 ** 30
