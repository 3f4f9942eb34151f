#!/usr/bin/env bash
# Every benchmark in sequence (each writes benchmarks/results/*.json and re-renders RESULTS.md).
# Throughput comparisons first, on an otherwise idle machine; then the accuracy runs.
set -uo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*"; "$@" || echo "FAILED: $*"; }
if [ "${1:-}" != "--accuracy-only" ]; then
  run python benchmarks/resnet50_vs_kapp.py
  run python benchmarks/export_latency.py
  run python benchmarks/nasnet.py
  run python benchmarks/pipeline.py
  run python benchmarks/compression.py
fi
for task in mlp_mnist forecaster_airline gru_sst2 transformer_imdb bilstm_imdb resnet20_cifar10; do
  run python benchmarks/accuracy.py "$task"
done
