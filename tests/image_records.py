"""Most tests build studies whose cases have no images: ``create_study`` imports truth and AI outputs only,
which is all the rules they test need. Readiness's image item would refuse such a study every step; while
:func:`cases_taken_as_imaged` is active it takes every case as having stored images. The item itself is
tested against the image index as it is (the ``image_records_checked`` fixture)."""

from contextlib import contextmanager
from unittest import mock

from studies.services import readiness

cases_with_stored_images = readiness.cases_with_images  # the real query, kept before any test replaces it


@contextmanager
def cases_taken_as_imaged():
    with mock.patch.object(readiness, "cases_with_images", set):
        yield
