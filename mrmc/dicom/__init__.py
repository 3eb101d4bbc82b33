"""Pure DICOM helpers for the reader-study platform (no Django import).

Modules
-------
parse
    Read and validate one Part 10 instance, extract the index fields.
limits
    Size, depth and element limits that bound the memory of one instance.
structure
    The byte structure walked without recursion before pydicom parses it.
validate
    Image storage SOP classes, UIDs, character sets and VRs of what is stored.
codestream
    The size a compressed frame's header declares, checked before decoding.
errors
    InvalidDicom and its reason classes.
sanitize
    Repair what breaks viewers (zero pixel spacing, zero window width ...).
deid
    PS3.15 Annex E Basic Application Level Confidentiality Profile, applied.
deid_profile
    Its attribute table (Table E.1-1) and the E.3 options, as rules.
storage
    Content-addressed file store.
dicomjson
    PS3.18 F.2 DICOM JSON model with bulk data URIs.
frames
    WADO-RS frames, rendered images and multipart/related streaming.
characteristics
    Coarse patient and acquisition attributes (sex, age band, equipment) read before de-identification.
synth
    Synthetic phantom studies with known lesions, truth and AI outputs.
"""
