"""deploy/fetch_ohif.py without the registry: the dist out of a tarball, its root references moved under
/ohif/, and a fetch that fails leaving the installed dist as it was. The real tarball: tests/e2e/test_ohif.py."""

import base64
import hashlib
import io
import json
import tarfile

import pytest

from deploy import fetch_ohif
from deploy.fetch_ohif import FetchError

WEBPACK_ROOT = '__webpack_require__.p = "/";'
APP_BUNDLE = f'(() => {{ {WEBPACK_ROOT} }})(); fetch("/dicomweb/studies");'


def tarball(path, files: dict[str, bytes], links: dict[str, str] | None = None):
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


def built_like_ohif(n_bundles: int = 8) -> dict[str, bytes]:
    files = {"package/package.json": b"{}", "package/dist/index.html": b"<html></html>",
             "package/dist/app.bundle.abc.js": APP_BUNDLE.encode(),
             "package/dist/app.bundle.css": b"@font-face{src:url(/f.woff2)}a{background:url(/i.png)}"}
    files |= {f"package/dist/{i}.bundle.js": f"{WEBPACK_ROOT}\n".encode() for i in range(n_bundles - 1)}
    return files


def test_only_the_dist_is_extracted(tmp_path):
    fetch_ohif.extract_dist(tarball(tmp_path / "ohif.tgz", built_like_ohif()), tmp_path / "dist")
    assert (tmp_path / "dist" / "index.html").read_bytes() == b"<html></html>"
    assert not (tmp_path / "dist" / "package.json").exists() and not (tmp_path / "package").exists()


@pytest.mark.parametrize("hostile", [{"package/dist/../../../evil.js": b"x"}, {"package/dist/sub/../../../x": b""}])
def test_a_member_out_of_the_dist_is_refused(tmp_path, hostile):
    with pytest.raises(FetchError, match="outside the destination"):
        fetch_ohif.extract_dist(tarball(tmp_path / "ohif.tgz", built_like_ohif() | hostile), tmp_path / "dist")
    assert not (tmp_path / "evil.js").exists()


def test_a_link_out_of_the_dist_is_refused(tmp_path):
    archive = tarball(tmp_path / "ohif.tgz", built_like_ohif(), links={"package/dist/passwd": "/etc/passwd"})
    with pytest.raises(FetchError, match="passwd"):
        fetch_ohif.extract_dist(archive, tmp_path / "dist")


def test_a_tarball_without_a_dist_is_refused(tmp_path):
    with pytest.raises(FetchError, match="no package/dist/index.html"):
        fetch_ohif.extract_dist(tarball(tmp_path / "ohif.tgz", {"package/README.md": b""}), tmp_path / "dist")


def test_root_references_move_under_the_public_path(tmp_path):
    fetch_ohif.extract_dist(tarball(tmp_path / "ohif.tgz", built_like_ohif()), tmp_path / "dist")
    fetch_ohif.serve_under(tmp_path / "dist", "/ohif/")
    assert (tmp_path / "dist" / "app.bundle.abc.js").read_text() == \
        '(() => { __webpack_require__.p = "/ohif/"; })(); fetch("/dicomweb/studies");'
    assert all(path.read_text() == '__webpack_require__.p = "/ohif/";\n' for path in (tmp_path / "dist").glob("?.bundle.js"))
    assert (tmp_path / "dist" / "app.bundle.css").read_text() == \
        "@font-face{src:url(/ohif/f.woff2)}a{background:url(/ohif/i.png)}"


def test_a_build_that_loads_from_elsewhere_is_refused(tmp_path):
    """Another build (an unpinned version, a changed webpack) would load files from the site root."""
    fetch_ohif.extract_dist(tarball(tmp_path / "ohif.tgz", built_like_ohif(n_bundles=7)), tmp_path / "dist")
    with pytest.raises(FetchError, match="expected in 8 files of \\*.js, found in"):
        fetch_ohif.serve_under(tmp_path / "dist", "/ohif/")


def test_a_tarball_without_the_pinned_integrity_is_refused(tmp_path, monkeypatch):
    fake = tarball(tmp_path / "ohif-app-3.13.2.tgz", built_like_ohif())

    def npm_pack(args, **kwargs):
        return type("Completed", (), {"returncode": 0, "stdout": f"{fake.name}\n", "stderr": ""})

    monkeypatch.setattr(fetch_ohif.subprocess, "run", npm_pack)
    with pytest.raises(FetchError, match="does not have the pinned integrity"):
        fetch_ohif.fetch_tarball(tmp_path)


def test_a_failed_fetch_leaves_the_installed_dist(tmp_path, monkeypatch):
    target = tmp_path / "ohif" / "dist"
    target.mkdir(parents=True)
    (target / "index.html").write_text("installed")
    monkeypatch.setattr(fetch_ohif, "fetch_tarball",
                        lambda workdir: tarball(workdir / "t.tgz", built_like_ohif(n_bundles=3)))
    with pytest.raises(FetchError):
        fetch_ohif.install(target)
    assert [p.name for p in target.iterdir()] == ["index.html"] and (target / "index.html").read_text() == "installed"
    assert [p.name for p in target.parent.iterdir()] == ["dist"]  # no staging folder left

    monkeypatch.setattr(fetch_ohif, "fetch_tarball", lambda workdir: tarball(workdir / "t.tgz", built_like_ohif()))
    fetch_ohif.install(target)
    assert (target / "index.html").read_text() == "<html></html>"
    assert [p.name for p in target.parent.iterdir()] == ["dist"]


def test_a_tarball_packed_elsewhere_is_checked_then_installed(tmp_path, monkeypatch):
    """The Docker build packs with npm in one stage and installs with ``--tarball`` in the next."""
    fake = tarball(tmp_path / "ohif-app.tgz", built_like_ohif())
    target = tmp_path / "ohif" / "dist"
    assert fetch_ohif.main(["fetch_ohif", str(target), "--tarball", str(fake)]) == 1
    assert not target.exists()

    monkeypatch.setattr(fetch_ohif, "INTEGRITY", "sha512-" + base64.b64encode(hashlib.sha512(fake.read_bytes()).digest()).decode())
    monkeypatch.setattr(fetch_ohif.subprocess, "run", None)  # npm is never asked
    assert fetch_ohif.main(["fetch_ohif", str(target), "--tarball", str(fake)]) == 0
    assert (target / "index.html").read_text() == "<html></html>"
    assert '"/ohif/"' in (target / "app.bundle.abc.js").read_text()


def test_the_sbom_entry_names_the_pinned_package_and_its_hash(tmp_path):
    fetch_ohif.main(["fetch_ohif", "--sbom", str(tmp_path / "ohif.cdx.json")])
    document = json.loads((tmp_path / "ohif.cdx.json").read_text())
    (component,) = document["components"]
    assert (component["group"], component["name"], component["version"]) == ("@ohif", "app", fetch_ohif.VERSION)
    (digest,) = component["hashes"]
    assert digest["alg"] == "SHA-512"
    assert "sha512-" + base64.b64encode(bytes.fromhex(digest["content"])).decode() == fetch_ohif.INTEGRITY
