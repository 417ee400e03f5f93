"""`python -m mbsnet evaluate`: PESQ / STOI / SI-SDR of a checkpoint beside the noisy input and the Wiener baseline."""
from __future__ import annotations

from mbsnet.cli.checks import check_folder, check_output_file, non_negative_int, positive_int
from mbsnet.cli.output import print_json
from mbsnet.results import save_result


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped final model)")
    parser.add_argument("--data", default=None, help="corpus directory, v2 or v3 (default: data/synthetic); a "
                        "corpus v3 adds its real-speech test set")
    parser.add_argument("--n-test", type=positive_int, default=None,
                        help="use only the first N test utterances")
    parser.add_argument("--out", default="results/evaluation_final.json",
                        help="where to store the results JSON ('' = don't)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--n-arctic", type=positive_int, default=None,
                        help="use only the first N ARCTIC mixtures")
    parser.add_argument("--tune-n", type=positive_int, default=16,
                        help="training pairs used to tune the Wiener knobs")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: default)")


def run(args) -> int:
    if args.out:
        check_output_file(args.out)
    if args.data is not None:
        check_folder(args.data, "--data")

    import torch

    from mbsnet.evaluate import run_evaluation, summary_table

    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_evaluation(args.checkpoint, args.data, args.n_test, args.tune_n, progress=not args.json,
                            n_arctic=args.n_arctic)
    if args.out:
        save_result(args.out, result)
    if args.json:
        sets = [k for k in ("synthetic", "arctic", "real") if k in result]
        print_json({k: {"summary": result[k]["summary"]} if k in sets else result[k]
                    for k in ("checkpoint", "checkpoint_step", "wiener", *sets)})
    else:
        print(summary_table("synthetic test set", result["synthetic"]["summary"]))
        print(summary_table("real speech (CMU ARCTIC + noise)", result["arctic"]["summary"]))
        if "real" in result:
            print(summary_table("real speech (held-out speakers + held-out noise recordings)",
                                result["real"]["summary"]))
        if args.out:
            print(f"stored in {args.out}")
    return 0
