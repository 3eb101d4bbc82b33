"""Per-study keys: de-identified UIDs and hashed accession numbers that other studies cannot link."""

import hashlib
import hmac

from django.conf import settings

from studies.models import Study


def deid_key_for(study: Study) -> bytes:
    """The study's own de-identification key: different studies get unlinkable UIDs."""
    return hmac.new(settings.DEID_KEY.encode(), f"study:{study.pk}".encode(), hashlib.sha256).digest()


def keyed_hash(value: str, key: bytes) -> str:
    return hmac.new(key, value.strip().encode(), hashlib.sha256).hexdigest() if value.strip() else ""
