"""The optimization ladder: every preset measured side by side.

For each preset (mbsnet.presets.names()) the ladder records
    parameters             total and per group (band split, Mamba encoders, output nets, decoders)
    predicted CUDA peak    of one Adam training step at batch 2 and batch 6, 2 s segments
                           (mbsnet.memory.predict_peak, no GPU needed)
    max batch              on a 12 GiB RTX 3080 Ti (affine fit of the predicted peak in batch)
    CPU step time          median seconds of a training step at the proxy's batch and length
    quality proxy          SI-SDR improvement and PESQ on held-out synthetic speech after a short
                           training run with the same data, steps and seeds for every preset

The quality proxy is a *short-training* proxy on the built-in synthetic corpus: it ranks how
fast each architecture learns under one small budget. It is not VoiceBank-DEMAND PESQ and cannot
be compared with published numbers. Presets that compute the same function (configs equal up to
`name` and `scan_method`: the scan method changes memory and speed, never the output) share one
set of quality runs, e.g. `seed` uses the runs of `recompute_scan`.

    measure   one preset: parameters, predicted memory, step time, quality runs (ProxyBudget)
    stats     spread over seeds, pooled noise, compare two presets
    run       run_ladder: every preset, saved after each piece; load a stored result
    report    the source's expected-results table beside the measurements; text tables

CLI: python -m mbsnet ladder (mbsnet.cli.ladder).
"""
from mbsnet.experiments.ladder.measure import (DEFAULT_CORPUS, DEFAULT_OUT, GPU, MEMORY_BATCHES,  # noqa: F401
                                               MEMORY_SECONDS, QUICK_BUDGET, ProxyBudget, eval_pairs,
                                               proxy_baselines,
                                               memory_columns, parameter_columns, proxy_corpus,
                                               quality_groups, quality_run, relative_cost,
                                               same_function_key, step_seconds, still_valid)
from mbsnet.experiments.ladder.report import (SOURCE_EXPECTED, comparison_line, comparison_table,  # noqa: F401
                                              expected_vs_measured, markdown_table, preset_line, table)
from mbsnet.experiments.ladder.run import load, run_ladder  # noqa: F401
from mbsnet.experiments.ladder.stats import (QUALITY_METRICS, compare, pooled_noise,  # noqa: F401
                                             quality_columns, spread)
