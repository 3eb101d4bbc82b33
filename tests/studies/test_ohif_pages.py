"""/ohif/: the OHIF Viewer's files, its start page and its configuration, only with OHIF_DIST.

The viewer itself against a live server is tests/e2e/test_ohif.py."""

import json

import pytest
from django.urls import reverse

from tests.conftest import create_user

pytestmark = pytest.mark.django_db

APP_BUNDLE = "app.bundle.0123abcd.js"


@pytest.fixture
def dist(settings, tmp_path):
    """A stand-in for a fetched dist: the files the platform looks at, and a WebAssembly module."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<script>window.PUBLIC_URL='/'</script>")
    (dist / APP_BUNDLE).write_text("/* OHIF */")
    (dist / "app.bundle.css").write_text("body{}")
    (dist / "assets" / "codec.wasm").write_bytes(b"\0asm\1\0\0\0")
    settings.OHIF_DIST = str(dist)
    return dist


@pytest.fixture
def user_client(client):
    client.force_login(create_user("ohif_reader"))
    return client


@pytest.mark.parametrize("path", ["/ohif/", "/ohif/viewer", f"/ohif/{APP_BUNDLE}", "/ohif/app-config.js"])
def test_nothing_is_served_without_ohif_dist(user_client, settings, path):
    settings.OHIF_DIST = ""
    assert user_client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/ohif/", "/ohif/viewer", "/ohif/index.html"])
def test_the_start_page_wants_a_login(client, dist, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={path}"


@pytest.mark.parametrize("path", ["/ohif/", "/ohif/viewer", "/ohif/segmentation", "/ohif/index.html"])
def test_every_route_of_the_viewer_gets_the_start_page(user_client, dist, path):
    response = user_client.get(path, {"StudyInstanceUIDs": "1.2.3"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script src="/ohif/app-config.js"></script>' in html
    assert f'<script defer src="/ohif/{APP_BUNDLE}"></script>' in html
    assert '<link href="/ohif/app.bundle.css" rel="stylesheet">' in html
    assert "<script>" not in html and "PUBLIC_URL" not in html  # no inline script: the CSP refuses them
    assert response["Cache-Control"] == "no-store"


def test_the_files_are_served_as_they_are(client, dist):
    response = client.get("/ohif/assets/codec.wasm")  # no login: OHIF's own public files
    assert response.status_code == 200
    assert response["Content-Type"] == "application/wasm"  # compiled while streamed only with this type
    assert b"".join(response.streaming_content) == b"\0asm\1\0\0\0"
    assert response["Cache-Control"] == "no-cache"
    assert "Content-Security-Policy" in response  # a worker script runs under its own response's policy
    bundle = client.get(f"/ohif/{APP_BUNDLE}")
    assert bundle["Content-Type"].startswith("text/javascript")
    revalidated = client.get(f"/ohif/{APP_BUNDLE}", HTTP_IF_MODIFIED_SINCE=bundle["Last-Modified"])
    assert revalidated.status_code == 304


@pytest.mark.parametrize("path", ["/ohif/missing.js", "/ohif/assets/missing.png"])
def test_a_file_that_is_not_in_the_dist_is_not_found(user_client, dist, path):
    assert user_client.get(path).status_code == 404  # not the start page: a missing chunk stays an error


@pytest.mark.parametrize("path", ["/ohif/../test_settings.py", "/ohif/%2e%2e/x.txt", "/ohif/assets/../../x.js"])
def test_a_path_out_of_the_dist_is_refused(user_client, dist, path):
    (dist.parent / "test_settings.py").write_text("SECRET = 1")
    assert user_client.get(path).status_code == 400  # Django's SuspiciousFileOperation


def test_a_dist_without_one_app_bundle_is_not_served(user_client, dist):
    (dist / "app.bundle.4567.js").write_text("")
    assert user_client.get("/ohif/").status_code == 404


def test_the_configuration_points_at_this_dicomweb(client, dist):
    response = client.get("/ohif/app-config.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    script = response.content.decode()
    assert 'window.PUBLIC_URL = "/ohif/";' in script
    config = json.loads(script.split("window.config = ", 1)[1].removesuffix(";\n"))
    assert config["routerBasename"] == "/ohif"
    source, = config["dataSources"]
    assert config["defaultDataSourceName"] == source["sourceName"]
    assert source["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
    dicomweb = source["configuration"]
    assert dicomweb["qidoRoot"] == dicomweb["wadoRoot"] == "/dicomweb"
    assert reverse("dicomweb-studies") == "/dicomweb/studies"
    assert (dicomweb["imageRendering"], dicomweb["thumbnailRendering"]) == ("wadors", "thumbnail")
    assert dicomweb["qidoSupportsIncludeField"] and dicomweb["supportsFuzzyMatching"]
    assert not dicomweb["dicomUploadEnabled"] and not dicomweb["supportsReject"]
