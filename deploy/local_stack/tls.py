"""The stack's TLS material, made with openssl: a CA of its own and a certificate for localhost it signed.

Clients verify nginx against ``ca.pem`` (never ``verify=False``); nginx serves ``fullchain.pem`` and
``privkey.pem``, the names deploy/nginx.conf expects in its TLS folder.
"""

import subprocess
from pathlib import Path

DAYS = 825  # the longest validity browsers accept for a server certificate
NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1"


def make_certificates(folder: Path) -> Path:
    """Make the CA and the server certificate once; returns the CA's certificate to verify against."""
    ca, chain = folder / "ca.pem", folder / "fullchain.pem"
    if ca.exists() and chain.exists():
        return ca
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *new_key, "-days", str(DAYS), "-subj", "/CN=MRMC local stack CA",
             "-keyout", folder / "ca.key", "-out", ca,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", *new_key, "-subj", "/CN=localhost", "-keyout", folder / "privkey.pem",
             "-out", folder / "server.csr")
    extensions = folder / "server.ext"
    extensions.write_text(f"{NAMES}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                          "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", folder / "server.csr", "-CA", ca, "-CAkey", folder / "ca.key",
             "-CAcreateserial", "-days", str(DAYS), "-extfile", extensions, "-out", folder / "cert.pem")
    chain.write_text((folder / "cert.pem").read_text() + ca.read_text())
    return ca


def _openssl(*args) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")
