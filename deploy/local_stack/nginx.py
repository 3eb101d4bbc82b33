"""nginx for the local stack: deploy/nginx.conf itself, with this stack's addresses and paths.

The production file is the one source: each of its machine-specific values below is replaced,
and a value that is no longer in it stops the stack with an error rather than be silently kept.
It is wrapped in a main context of its own (no daemon, logs and temporary files in the state folder).
"""

import pwd
import re
import shutil
import subprocess
from pathlib import Path

from .processes import ROOT

PRODUCTION_CONFIG = ROOT / "deploy" / "nginx.conf"
SECURITY_HEADERS = ROOT / "deploy" / "security-headers.conf"
STATIC_ROOT = ROOT / "staticfiles"  # config/settings.py STATIC_ROOT
WORKER_USER = "www-data"  # Debian's nginx user, when the master runs as root
HTTP2_DIRECTIVE = (1, 25, 1)  # "http2 on;" exists from this version; before it, "listen ... ssl http2"

MAIN = """\
# Made by deploy/local-stack from deploy/nginx.conf at every start; edit that file, not this one.
daemon off;
{user}worker_processes 2;
pid {folder}/nginx.pid;
error_log {logs}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {logs}/nginx-access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

{site}
}}
"""


def missing_nginx() -> str | None:
    if shutil.which("nginx") is None:
        return "nginx is not installed (Debian: nginx; .ci/system-packages installs it)"
    return None


def nginx_version() -> tuple[int, ...]:
    banner = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr  # "nginx version: nginx/1.22.1"
    return tuple(int(part) for part in re.search(r"nginx/([\d.]+)", banner).group(1).split("."))


def site_config(production: str, *, https_port: int, http_port: int, web_port: int, tls: Path,
                version: tuple[int, ...]) -> str:
    """``production`` (deploy/nginx.conf) with this stack's ports, certificate, files and application."""
    http2_directive = version >= HTTP2_DIRECTIVE
    replacements = [
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("return 301 https://$host$request_uri;", f"return 301 https://$host:{https_port}$request_uri;"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl{'' if http2_directive else ' http2'};"),
        ("http2 on;", "http2 on;" if http2_directive else "# http2: on the listen line (nginx before 1.25.1)"),
        ("/etc/nginx/tls/", f"{tls}/"),
        ("/app/staticfiles/", f"{STATIC_ROOT}/"),
        ("/etc/nginx/snippets/security-headers.conf", str(SECURITY_HEADERS)),
        ("http://web:8000", f"http://127.0.0.1:{web_port}"),
        # Not on 443: the application builds absolute URLs (DICOMweb BulkDataURIs) from Host, port included.
        ("proxy_set_header Host $host;", "proxy_set_header Host $host:$server_port;"),
    ]
    site = production
    for production_value, local_value in replacements:
        if production_value not in site:
            raise RuntimeError(f"{PRODUCTION_CONFIG} no longer contains {production_value!r}: "
                               "update deploy/local_stack/nginx.py")
        site = site.replace(production_value, local_value)
    return site


def write_config(*, folder: Path, logs: Path, https_port: int, http_port: int, web_port: int, tls: Path,
                 as_root: bool) -> Path:
    """Write the stack's nginx.conf (and the temporary folders its workers use); returns its path."""
    site = site_config(PRODUCTION_CONFIG.read_text(), https_port=https_port, http_port=http_port,
                       web_port=web_port, tls=tls, version=nginx_version())
    folder.mkdir(parents=True, exist_ok=True)
    account = pwd.getpwnam(WORKER_USER) if as_root else None
    for temporary in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temporary).mkdir(exist_ok=True)
        if account:  # uploads are buffered there by the workers, not the master
            shutil.chown(folder / temporary, account.pw_uid, account.pw_gid)
    config = folder / "nginx.conf"
    config.write_text(MAIN.format(user=f"user {WORKER_USER};\n" if as_root else "", folder=folder, logs=logs,
                                  site=site))
    return config


def nginx_command(config: Path, logs: Path) -> list[str]:
    return ["nginx", "-c", str(config), "-e", str(logs / "nginx-error.log"), "-p", str(config.parent)]


def check_config(config: Path, logs: Path) -> None:
    result = subprocess.run([*nginx_command(config, logs), "-t", "-q"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nginx refuses {config}: {result.stderr.strip()}")
