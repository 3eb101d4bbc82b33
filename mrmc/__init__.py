"""mrmc: the platform's standalone libraries.

``mrmc.stats`` (numpy/scipy MRMC statistics), ``mrmc.dicom`` (pydicom helpers) and ``mrmc.inference``
(running a model over DICOM images with onnxruntime) import neither
Django nor the ``studies`` app; ``pip install .[stats]``, ``.[dicom]`` or ``.[inference]`` installs them alone.
"""
