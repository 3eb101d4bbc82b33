#!/usr/bin/env bash
# Precompute throughput on a GPU machine: run once, from anywhere in a copy of the repository; all output on stdout.
# Needs python3 (3.11+, with venv), PyPI, and an NVIDIA driver new enough for the CUDA that onnxruntime-gpu
# of requirements.txt's onnxruntime version is built for (1.30: CUDA 13); its [cuda,cudnn] extras bring
# CUDA and cuDNN as wheels. VENV=folder to keep the environment elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-/tmp/mrmc-precompute-venv}
python3 -m venv "$venv"
# The benchmark's imports, at the versions the project pins; onnxruntime-gpu in place of onnxruntime.
mapfile -t packages < <(sed -n -E 's/^(numpy|scipy|pydicom|pyjpegls|pillow|PyYAML|onnx)==([^ ]+).*/\1==\2/p' \
    requirements.txt requirements-dev.txt)
packages+=("$(sed -n -E 's/^onnxruntime==([^ ]+).*/onnxruntime-gpu[cuda,cudnn]==\1/p' requirements.txt)")
echo "installing ${packages[*]}"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
status=0
"$venv/bin/python" benchmarks/bench_precompute.py --device cuda --batch-size 32 --cases 64 || status=$?
echo; echo "again with a decode thread per core (the pipeline's default is 2):"
"$venv/bin/python" benchmarks/bench_precompute.py --device cuda --batch-size 32 --cases 64 \
    --decode-workers "$(nproc)" || status=$?
nvidia-smi
exit "$status"
