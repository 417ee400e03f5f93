"""The selective scan under its original name: `mbsnet.ssm.selective_scan` (DESIGN's interface).

The scans live in `mbsnet.scan`; this module only re-exports them.
"""
from mbsnet.scan import SCAN_METHODS, chunked_scan, selective_scan, sequential_scan  # noqa: F401
