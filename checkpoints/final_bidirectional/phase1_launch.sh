#!/bin/bash
# Background training of the `final` preset on the synthetic corpus (1 CPU thread).
cd /work/wt/data
echo "launch commit: $(git rev-parse HEAD)  date: $(date -u -Iseconds)  host: $(uname -a)"
exec env PYTHONPATH=$PWD /work/main/.venv/bin/python -u -c "
import argparse, sys
from mbsnet import train
p = argparse.ArgumentParser(); train.add_arguments(p)
args = p.parse_args(sys.argv[1:])
args.command_line = 'python -m mbsnet train ' + ' '.join(sys.argv[1:])
sys.exit(train.run(args))
" --preset final --data synthetic --steps 750 --batch 2 --segment-seconds 0.5 --lr 2e-3 \
  --out data/runs/final --checkpoint-every 50 --checkpoint-minutes 5 --eval-every 100 --eval-n 4 --threads 1 "$@"
