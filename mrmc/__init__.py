"""mrmc: the platform's standalone libraries.

``mrmc.stats`` (numpy/scipy MRMC statistics) and ``mrmc.dicom`` (pydicom helpers) import neither
Django nor the ``studies`` app; ``pip install .[stats]`` or ``.[dicom]`` installs them alone.
"""
