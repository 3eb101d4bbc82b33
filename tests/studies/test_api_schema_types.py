"""Every JSON response of the API is typed in the OpenAPI schema: no endpoint returns a free-form dict.

A free-form object is ``type: object`` with no ``properties`` and no typed ``additionalProperties``
(a map such as ``{name: url}`` is typed; ``{}`` or ``true`` is not). Values documented as any JSON
(``{}``, stored documents such as a case's lesions) are not objects and pass.
"""

import pytest
from drf_spectacular.generators import SchemaGenerator

# Operations whose 2xx JSON body is still free-form, each to be typed and then removed from here.
UNTYPED_FOR_NOW: set[tuple[str, str]] = set()

DOWNLOAD_MEDIA_TYPES = {
    "/api/v1/analysis-runs/{run_id}/report.html": "text/html",
    "/api/v1/analysis-runs/{run_id}/report.pdf": "application/pdf",
    "/api/v1/analysis-runs/{run_id}/reads.csv": "text/csv",
    "/api/v1/analysis-runs/{run_id}/mrmcaov.csv": "text/csv",
    "/api/v1/analysis-runs/{run_id}/imrmc.imrmc": "text/plain",
    "/api/v1/analysis-runs/{run_id}/rjafroc.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "/api/v1/studies/{study_id}/schedule.csv": "text/csv",
    "/api/v1/studies/{study_id}/reads.csv": "text/csv",
    "/api/v1/studies/{study_id}/ai-output-sets/{set_id}/outputs.csv": "text/csv",
    "/api/v1/evaluations/{evaluation_id}/looks/{look}/report.html": "text/html",
    "/api/v1/evaluations/{evaluation_id}/looks/{look}/report.pdf": "application/pdf",
}


def free_form_objects(schema: dict, components: dict, where: str = "", seen: frozenset = frozenset()) -> list[str]:
    """Where in ``schema`` (following ``$ref``s into ``components``) an object has no declared shape."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        return free_form_objects(components[name], components, where, seen | {name})
    found = []
    for combined in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combined, []):
            found += free_form_objects(part, components, where, seen)
    extra = schema.get("additionalProperties")
    typed_map = isinstance(extra, dict) and extra != {}
    if schema.get("type") == "object" and "properties" not in schema and not typed_map:
        found.append(where or "(body)")
    for name, field in schema.get("properties", {}).items():
        found += free_form_objects(field, components, f"{where}.{name}", seen)
    if typed_map:
        found += free_form_objects(extra, components, f"{where}.*", seen)
    if "items" in schema:
        found += free_form_objects(schema["items"], components, f"{where}[]", seen)
    return found


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


def json_responses(openapi):
    for path, operations in openapi["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                body = response.get("content", {}).get("application/json")
                if code.startswith("2") and body is not None:
                    yield (method.upper(), path), body["schema"]


def test_no_api_json_response_is_a_free_form_object(openapi):
    components = openapi["components"]["schemas"]
    untyped = {}
    for operation, schema in json_responses(openapi):
        places = free_form_objects(schema, components)
        if places:
            untyped[operation] = places
    assert not {op: places for op, places in untyped.items() if op not in UNTYPED_FOR_NOW}, untyped
    assert not UNTYPED_FOR_NOW - set(untyped), "typed now: remove from UNTYPED_FOR_NOW"


def test_the_check_finds_free_form_objects_wherever_they_are():
    components = {
        "Page": {"type": "object", "properties": {"results": {"type": "array", "items": {"$ref": "#/x/Row"}}}},
        "Row": {"type": "object", "properties": {"extra": {"type": "object", "additionalProperties": {}}}},
        "Links": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    assert free_form_objects({"type": "object"}, components) == ["(body)"]
    assert free_form_objects({"type": "object", "additionalProperties": True}, components) == ["(body)"]
    assert free_form_objects({"$ref": "#/x/Page"}, components) == [".results[].extra"]
    assert free_form_objects({"$ref": "#/x/Links"}, components) == []
    assert free_form_objects({"type": "object", "properties": {"any": {}}}, components) == []


def test_downloads_declare_exactly_their_media_type(openapi):
    for path, media_type in DOWNLOAD_MEDIA_TYPES.items():
        assert set(openapi["paths"][path]["get"]["responses"]["200"]["content"]) == {media_type}, path


def test_results_json_is_declared_with_its_document_shape(openapi):
    body = openapi["paths"]["/api/v1/analysis-runs/{run_id}/results.json"]["get"]["responses"]["200"]["content"]
    document = openapi["components"]["schemas"][body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(document["properties"]) == {"run", "results"}
