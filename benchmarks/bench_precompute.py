"""Precompute throughput: a ResNet-18 ONNX model over demo radiographs (run: python benchmarks/bench_precompute.py).

A ResNet-18 (11.2 M parameters with its one-logit head; random He-initialized weights from a seeded
generator) is built with the onnx helper API for 3 x 512 x 512 inputs and one sigmoid score, with a
card that resizes (area) the demo set's 2048x2048 16-bit DX images to 512x512. For one batch size it
prints images/s of
- the model alone: ``OnnxModel.run`` on ready-made random batches (after a warm-up batch);
- decoding alone: ``pydicom.dcmread`` + ``mrmc.inference.prepare``, one thread and the pipeline's
  decode threads;
- end to end: ``run_cases`` over the demo cases, with its split of decode, inference and wait time;
and the ratio model alone / end to end. Each figure is the best of ``--repeat`` rounds of all four
(interleaved, as the machine may be shared). Goal: within 1.5x (decoding hidden behind inference).

``--device cuda`` needs onnxruntime-gpu (benchmarks/gpu_precompute.sh runs it on a GPU machine).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pydicom
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mrmc.dicom.synth import make_demo_set  # noqa: E402
from mrmc.inference import CaseImages, ImageRef, ModelMismatch, OnnxModel, Timings, parse_card, prepare, run_cases  # noqa: E402
from mrmc.inference.pipeline import DECODE_WORKERS  # noqa: E402
from mrmc.inference.runtime import DEVICES  # noqa: E402

SIDE = 512
STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (channels, stride of the first block), two blocks each
DEMO_SEED = 20261128
CARD = f"""
name: ResNet-18 benchmark
version: "1"
input: {{name: image, layout: NCHW, channels: 3, height: {SIDE}, width: {SIDE}}}
preprocessing:
  resize: area
  window: dicom
  normalize: {{mean: 0.5, std: 0.25}}
outputs: {{score: score}}
""".encode()


class ResNetBuilder:
    """ONNX nodes and He-initialized weights of a ResNet-18 (batch norm folded into the convolutions' bias)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.weights = [], []
        self.macs = 0  # multiply-accumulates per image

    def conv(self, source: str, shape: tuple[int, int, int], c_in: int, c_out: int, kernel: int, stride: int,
             *, relu: bool = True) -> tuple[str, tuple[int, int, int]]:
        name = f"conv{len(self.weights) // 2}"
        fan_in = c_in * kernel * kernel
        weight = self.rng.normal(0, math.sqrt(2 / fan_in), (c_out, c_in, kernel, kernel)).astype(np.float32)
        self.weights += [numpy_helper.from_array(weight, f"{name}.w"),
                         numpy_helper.from_array(np.zeros(c_out, np.float32), f"{name}.b")]
        pad = kernel // 2
        self.nodes.append(helper.make_node("Conv", [source, f"{name}.w", f"{name}.b"], [name],
                                           kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4))
        out_shape = (c_out, (shape[1] + 2 * pad - kernel) // stride + 1, (shape[2] + 2 * pad - kernel) // stride + 1)
        self.macs += fan_in * math.prod(out_shape)
        return (self.relu(name) if relu else name), out_shape

    def relu(self, source: str) -> str:
        self.nodes.append(helper.make_node("Relu", [source], [f"{source}.relu"]))
        return f"{source}.relu"

    def basic_block(self, source: str, shape: tuple[int, int, int], c_out: int,
                    stride: int) -> tuple[str, tuple[int, int, int]]:
        branch, out_shape = self.conv(source, shape, shape[0], c_out, 3, stride)
        branch, _ = self.conv(branch, out_shape, c_out, c_out, 3, 1, relu=False)
        shortcut = source
        if stride != 1 or shape[0] != c_out:
            shortcut, _ = self.conv(source, shape, shape[0], c_out, 1, stride, relu=False)
        total = f"{branch}.add"
        self.nodes.append(helper.make_node("Add", [branch, shortcut], [total]))
        return self.relu(total), out_shape

    def model(self) -> onnx.ModelProto:
        x, shape = self.conv("image", (3, SIDE, SIDE), 3, 64, 7, 2)
        self.nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2],
                                           pads=[1, 1, 1, 1]))
        x, shape = "pool", (64, (shape[1] - 1) // 2 + 1, (shape[2] - 1) // 2 + 1)
        for channels, stride in STAGES:
            x, shape = self.basic_block(x, shape, channels, stride)
            x, shape = self.basic_block(x, shape, channels, 1)
        fc = self.rng.normal(0, math.sqrt(1 / shape[0]), (shape[0], 1)).astype(np.float32)
        self.weights += [numpy_helper.from_array(fc, "fc.w"), numpy_helper.from_array(np.zeros(1, np.float32), "fc.b")]
        self.macs += shape[0]
        self.nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
                       helper.make_node("Flatten", ["gap"], ["features"]),
                       helper.make_node("Gemm", ["features", "fc.w", "fc.b"], ["logit"]),
                       helper.make_node("Sigmoid", ["logit"], ["score"])]
        graph = helper.make_graph(
            self.nodes, "resnet18", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
            [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])], self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 9  # onnxruntime refuses newer IR versions than it knows
        onnx.checker.check_model(model)
        return model


def demo_paths(folder: Path, n_cases: int) -> list[Path]:
    """The demo set's files in ``folder``, written on the first run (truth.csv is its last file)."""
    if not (folder / "truth.csv").exists():
        make_demo_set(folder, n_cases=n_cases, seed=DEMO_SEED, modality="DX", shape=(2048, 2048))
    return sorted(folder.glob("images/*/*.dcm"))


def as_cases(paths: list[Path]) -> list[CaseImages]:
    """One case per folder of ``paths``; each image is read when the pipeline decodes it."""
    images: dict[str, list[ImageRef]] = {}
    for path in paths:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        images.setdefault(path.parent.name, []).append(
            ImageRef(str(header.SOPInstanceUID), 1, str(header.Modality), load=lambda path=path: pydicom.dcmread(path)))
    return [CaseImages(case, tuple(refs)) for case, refs in images.items()]


def inference_only(model: OnnxModel, n_images: int) -> float:
    """Images/s of the model on random batches: one warm-up batch, then batches covering ``n_images``."""
    batches = math.ceil(n_images / model.batch_size)
    tensors = np.random.default_rng(0).random(model.card.input_shape(model.batch_size), dtype=np.float32)
    model.run(tensors)
    started = time.perf_counter()
    for _ in range(batches):
        model.run(tensors)
    return batches * model.batch_size / (time.perf_counter() - started)


def decode_only(model: OnnxModel, paths: list[Path], workers: int) -> float:
    def decode(path: Path) -> None:
        prepare(pydicom.dcmread(path), 1, model.card)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(decode, paths))
    return len(paths) / (time.perf_counter() - started)


@dataclass(frozen=True)
class EndToEnd:
    rate: float
    wall_s: float
    timings: Timings


def end_to_end(model: OnnxModel, cases: list[CaseImages], decode_workers: int) -> EndToEnd:
    timings = Timings()
    started = time.perf_counter()
    results = list(run_cases(cases, model, decode_workers=decode_workers, timings=timings))
    wall = time.perf_counter() - started
    failed = [result for result in results if result.error]
    if failed:
        sys.exit(f"{len(failed)} case(s) not scored, e.g. {failed[0].case}: {failed[0].error}")
    return EndToEnd(timings.images / wall, wall, timings)


@dataclass(frozen=True)
class Round:
    """Images/s of one round of the four measurements."""

    inference: float
    decode_one_thread: float
    decode_threaded: float
    end_to_end: EndToEnd


def measure(model: OnnxModel, cases: list[CaseImages], paths: list[Path], decode_workers: int) -> Round:
    return Round(inference_only(model, len(paths)), decode_only(model, paths, 1),
                 decode_only(model, paths, decode_workers), end_to_end(model, cases, decode_workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=24, help="demo cases (one 2048x2048 DX image each)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--decode-workers", type=int, default=DECODE_WORKERS, help="run_cases' decode threads")
    parser.add_argument("--data", type=Path, help="folder of the demo set, reused across runs "
                        "(default: one per --cases in the temporary folder)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the model's weights")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best is reported)")
    args = parser.parse_args()
    import onnxruntime

    if args.device != "cpu":
        onnxruntime.preload_dlls()  # CUDA and cuDNN of onnxruntime-gpu[cuda,cudnn]'s wheels; nothing without them
    print(f"onnxruntime {onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    builder = ResNetBuilder(args.seed)
    proto = builder.model()
    parameters = sum(math.prod(tensor.dims) for tensor in proto.graph.initializer)
    print(f"model: ResNet-18, {parameters / 1e6:.2f} M parameters, {2 * builder.macs / 1e9:.1f} GFLOPs per "
          f"{SIDE}x{SIDE} image")
    data = args.data or Path(tempfile.gettempdir()) / f"mrmc-bench-precompute-{args.cases}-{DEMO_SEED}"
    started = time.perf_counter()
    paths = demo_paths(data, args.cases)
    cases = as_cases(paths)
    print(f"demo set: {len(cases)} cases, {len(paths)} images in {data} ({time.perf_counter() - started:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="bench-precompute-") as scratch:
        model_path = Path(scratch) / "resnet18.onnx"
        onnx.save(proto, model_path)
        try:
            model = OnnxModel(model_path, parse_card(CARD), device=args.device, batch_size=args.batch_size)
        except ModelMismatch as exc:
            sys.exit(str(exc))
    if args.device == "cuda" and not model.info.device.startswith("CUDA"):
        sys.exit(f"onnxruntime fell back to {model.info.device}: its CUDA provider did not load (CUDA, cuDNN, driver?)")
    print(f"device: {model.info.device}, batch size {args.batch_size}\n")

    rounds = [measure(model, cases, paths, args.decode_workers) for _ in range(args.repeat)]
    model_rate = max(each.inference for each in rounds)
    best = max((each.end_to_end for each in rounds), key=lambda run: run.rate)
    rate, wall, timings = best.rate, best.wall_s, best.timings
    print(f"{'inference only':<34}{model_rate:8.2f} images/s")
    print(f"{'decode + prepare, 1 thread':<34}{max(each.decode_one_thread for each in rounds):8.2f} images/s")
    print(f"{f'decode + prepare, {args.decode_workers} threads':<34}"
          f"{max(each.decode_threaded for each in rounds):8.2f} images/s")
    print(f"{'end to end (run_cases)':<34}{rate:8.2f} images/s  ({timings.images} images in {wall:.2f} s)")
    print(f"  decode {timings.decode_s:.2f} s (summed over {args.decode_workers} threads), inference "
          f"{timings.inference_s:.2f} s ({timings.inference_s / wall:.0%} of the wall time), waiting for "
          f"decoding {timings.wait_s:.2f} s ({timings.wait_s / wall:.0%})")
    print(f"  model alone would take {timings.images / model_rate:.2f} s for these images; inference inside "
          f"run_cases ran at {timings.images / timings.inference_s:.2f} images/s")
    ratio = model_rate / rate
    print(f"\ninference only / end to end: {ratio:.2f}x ({'within' if ratio <= 1.5 else 'over'} the 1.5x goal); "
          f"{model_rate:.1f} vs {rate:.1f} images/s on {model.info.device}, batch {args.batch_size}")


if __name__ == "__main__":
    main()
