"""Running a sponsor's model over a study's images: the model card, preprocessing, onnxruntime, batching.

Pure library code (numpy, pydicom, Pillow, onnxruntime, PyYAML): it takes datasets and a model and
returns scores, findings and what produced them; storing them is the platform's business.
"""

from .card import CardError, ModelCard, card_sha256, parse_card
from .images import UnusableImage, pixel_sha256, prepare
from .pipeline import CaseImages, CaseResult, ImageRef, Timings, run_cases
from .runtime import DEVICES, ModelMismatch, OnnxModel, RuntimeInfo

__all__ = ["DEVICES", "CardError", "CaseImages", "CaseResult", "ImageRef", "ModelCard", "ModelMismatch",
           "OnnxModel", "RuntimeInfo", "Timings", "UnusableImage", "card_sha256", "parse_card", "pixel_sha256",
           "prepare", "run_cases"]
