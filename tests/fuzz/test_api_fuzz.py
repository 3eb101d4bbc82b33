"""Schemathesis over the whole API as an admin and as a reader: no 5xx, and every documented
response exactly as the OpenAPI schema says (body, media type, headers).

Each operation gets ``EXAMPLES`` generated requests (valid and invalid), sent with each token,
once as generated and once with the path naming objects that exist, so the documented success
bodies are checked too. Derandomized: the same requests on every run.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from config.wsgi import application

EXAMPLES = 10
RENDERED = ("report.html", "report.pdf")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")  # upload chunks
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# Generated requests only (the coverage phase's exhaustive boundary cases would take minutes).
schema.config.phases.coverage.enabled = False


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api_conforms_to_its_schema_and_never_fails(case, seeded, wsgi_in_test_transaction):
    generated = dict(case.path_parameters or {})
    existing = {name: seeded.path_ids.get(name, value) for name, value in generated.items()}
    variants = [generated, existing] if generated != existing else [generated]
    if case.operation.path.endswith(RENDERED) and seeded.rendered:
        variants = [generated]  # a report takes seconds to render: one real one per operation
    seeded.rendered.extend(variants[1:])
    for path_parameters in variants:
        case.path_parameters = path_parameters
        for token in seeded.tokens.values():
            case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
