"""Loading a model with onnxruntime, and refusing one that does not match its card before it sees a case.

The CUDA execution provider is used where onnxruntime has it (``onnxruntime-gpu``) and the device
asked for allows it; the CPU provider otherwise. What ran is recorded: :class:`RuntimeInfo`.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass

import numpy as np

from .card import ModelCard

DEVICES = ("auto", "cuda", "cpu")
CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"
MAX_BATCH_SIZE = 256
DEFAULT_BATCH_SIZE = 8


class ModelMismatch(ValueError):
    """The model cannot be run as its card says (inputs, types, outputs, device); the message names what."""


@dataclass(frozen=True)
class RuntimeInfo:
    runtime: str
    runtime_version: str
    device: str

    def as_dict(self) -> dict:
        return asdict(self)


class OnnxModel:
    """An onnxruntime session checked against its card; :meth:`run` takes a batch, returns score and findings."""

    def __init__(self, model: bytes | str | os.PathLike, card: ModelCard, *, device: str = "auto",
                 batch_size: int | None = None):
        """``batch_size`` None: the model's own where its batch dimension is fixed, else DEFAULT_BATCH_SIZE."""
        import onnxruntime

        if device not in DEVICES:
            raise ModelMismatch(f"device: one of {', '.join(DEVICES)}")
        if batch_size is not None and not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ModelMismatch(f"batch size: 1 to {MAX_BATCH_SIZE}")
        self.card = card
        providers = _providers(onnxruntime.get_available_providers(), device)
        if CUDA_PROVIDER in providers and hasattr(onnxruntime, "preload_dlls"):
            onnxruntime.preload_dlls()  # CUDA and cuDNN installed from PyPI are found only when loaded first
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        source = model if isinstance(model, bytes) else os.fspath(model)
        try:
            self.session = onnxruntime.InferenceSession(source, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own classes for a file that is not a model
            raise ModelMismatch(f"the file is not a model onnxruntime can load: {_first_line(exc)}") from None
        self.batch_size = batch_size or self._fixed_batch_size() or DEFAULT_BATCH_SIZE
        used = self.session.get_providers()[0]
        if device == "cuda" and used != CUDA_PROVIDER:
            raise ModelMismatch("device cuda: onnxruntime could not start CUDA (its libraries or the driver are "
                                "missing) and would run on the CPU")
        self.on_gpu = used == CUDA_PROVIDER
        self.info = RuntimeInfo("onnxruntime", onnxruntime.__version__,
                                _cuda_device() if used == CUDA_PROVIDER else _cpu_device())
        self._check_inputs()
        self._check_outputs()

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores (N,) float64 and findings (N, K, 5) or None for a batch of the card's input shape."""
        names = [self.card.score_output] + ([self.card.findings_output] if self.card.findings_output else [])
        outputs = self.session.run(names, {self.card.input_name: batch})
        return self._checked(outputs, len(batch))

    def _fixed_batch_size(self) -> int | None:
        declared = {item.name: item.shape for item in self.session.get_inputs()}.get(self.card.input_name)
        first = declared[0] if declared else None
        return first if isinstance(first, int) and 1 <= first <= MAX_BATCH_SIZE else None

    def _check_inputs(self) -> None:
        card = self.card
        inputs = {item.name: item for item in self.session.get_inputs()}
        if card.input_name not in inputs:
            raise ModelMismatch(f"input '{card.input_name}' of the card is not in the model (it has "
                                f"{', '.join(sorted(inputs))})")
        others = sorted(set(inputs) - {card.input_name})
        if others:
            raise ModelMismatch(f"the model needs input(s) {', '.join(others)} that the card does not give")
        declared = inputs[card.input_name]
        if declared.type != "tensor(float)":
            raise ModelMismatch(f"input '{card.input_name}' is {declared.type}; the card gives float32")
        expected = card.input_shape(self.batch_size)
        if len(declared.shape) != 4:
            raise ModelMismatch(f"input '{card.input_name}' has shape {declared.shape}; the card gives "
                                f"{card.layout} {list(expected)}")
        for axis, (got, want) in enumerate(zip(declared.shape, expected, strict=True)):
            if isinstance(got, int) and got != want:
                what = "batch size" if axis == 0 else f"{card.layout[axis]} dimension"
                raise ModelMismatch(f"input '{card.input_name}' {what} is {got} in the model; the card and "
                                    f"batch size give {want} (shape {list(expected)})")

    def _check_outputs(self) -> None:
        """Every output the card names exists, and a batch of zeros gives outputs of the right shape."""
        names = {item.name for item in self.session.get_outputs()}
        for role, name in (("score", self.card.score_output), ("findings", self.card.findings_output)):
            if name and name not in names:
                raise ModelMismatch(f"outputs.{role}: the model has no output '{name}' "
                                    f"(it has {', '.join(sorted(names))})")
        self.run(np.zeros(self.card.input_shape(self.batch_size), dtype=np.float32))

    def _checked(self, outputs: list, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
        scores = np.asarray(outputs[0])
        if scores.shape not in ((batch,), (batch, 1)):
            raise ModelMismatch(f"output '{self.card.score_output}' has shape {list(scores.shape)}; a score per "
                                f"image, ({batch},) or ({batch}, 1), is needed")
        if not np.issubdtype(scores.dtype, np.floating) and not np.issubdtype(scores.dtype, np.integer):
            raise ModelMismatch(f"output '{self.card.score_output}' is {scores.dtype}, not a number")
        findings = None
        if self.card.findings_output:
            findings = np.asarray(outputs[1], dtype=np.float64)
            if findings.ndim != 3 or findings.shape[0] != batch or findings.shape[2] != 5:
                raise ModelMismatch(f"output '{self.card.findings_output}' has shape {list(findings.shape)}; "
                                    f"({batch}, K, 5) rows of x, y, width, height, score are needed")
        return scores.reshape(batch).astype(np.float64), findings


def _providers(available: list[str], device: str) -> list[str]:
    if device == "cuda" and CUDA_PROVIDER not in available:
        raise ModelMismatch("device cuda: this onnxruntime has no CUDA execution provider "
                            "(install onnxruntime-gpu on a machine with an NVIDIA GPU)")
    if device != "cpu" and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


def _cuda_device() -> str:
    """The GPU's name and driver, from nvidia-smi where it is installed."""
    smi = shutil.which("nvidia-smi")
    if smi:
        result = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],  # noqa: S603
                                capture_output=True, text=True, timeout=10, check=False)
        if result.returncode == 0 and result.stdout.strip():
            name, _, driver = result.stdout.splitlines()[0].partition(",")
            return f"CUDA: {name.strip()} (driver {driver.strip()})"
    return "CUDA: GPU"


def _cpu_device() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    return f"CPU: {model or platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
