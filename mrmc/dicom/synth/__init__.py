"""Synthetic demo studies: chest DX and 4-view mammography phantoms with known lesions.

The images are phantoms and say so in Manufacturer and Image Comments; the
patients are ``DEMO^CASEnnn``, identified by design so that ingest can exercise
de-identification.

Modules
-------
phantom
    Density images of anatomy, lesions and noise.
datasets
    DICOM headers (DX and MG For Presentation).
cases
    :func:`make_case`, :func:`simulate_ai_output`, :func:`make_demo_set`.
"""

from .cases import CaseTruth, DemoSet, LesionMark, ViewInfo, make_case, make_demo_set, simulate_ai_output
from .phantom import Lesion, add_lesion

__all__ = ["CaseTruth", "DemoSet", "Lesion", "LesionMark", "ViewInfo", "add_lesion", "make_case",
           "make_demo_set", "simulate_ai_output"]
