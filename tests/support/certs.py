"""Throw-away certificate authorities and certificates, made with the openssl CLI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", str(path))  # fmt: skip


def make_ca(directory: Path, name: str) -> Issued:
    """A self-signed CA valid for a day."""
    key, cert = directory / f"{name}-key.pem", directory / f"{name}.pem"
    _new_key(key)
    _openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert), "-days", "1",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return Issued(cert, key)


def issue(ca: Issued, directory: Path, name: str, *, server: bool) -> Issued:
    """A certificate signed by `ca`: for 127.0.0.1/localhost if `server`, else a client's."""
    key, csr, cert = (directory / f"{name}{suffix}" for suffix in ("-key.pem", ".csr", ".pem"))
    _new_key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        if server
        else "extendedKeyUsage=clientAuth\n"
    )
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-out", str(cert), "-days", "1",
             "-extfile", str(extensions))  # fmt: skip
    return Issued(cert, key)
