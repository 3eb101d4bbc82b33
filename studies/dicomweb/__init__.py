"""DICOMweb service (PS3.18): QIDO-RS and WADO-RS with per-reader authorization."""
