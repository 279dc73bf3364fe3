"""Reading a process's fedmall.toml and the key files in its home folder.

Every problem is one ConfigError whose message names the file (and the key) and says
what is wrong, so a command can print it as one line and exit 2: a missing or unreadable
file, text that is not UTF-8 or not TOML, a missing section or key, a key nobody reads
(a misspelling), a value of the wrong type or out of range, a key or certificate file
that does not parse, a TLS key that does not belong to its certificate.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from fedmall.envelope import SigningKey
from fedmall.pki import TlsCredentials, signing_key_from_pem

Parsed = TypeVar("Parsed")


class ConfigError(ValueError):
    """The configuration or a file it names is missing or malformed; the message says what to fix."""


def read_toml(path: Path) -> "TomlFile":
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; is {path.parent} a Fedmall home folder?") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return TomlFile(path=path, document=tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


@dataclass(frozen=True, slots=True)
class TomlFile:
    path: Path
    document: dict

    def check_known(self, known: Mapping[str, frozenset[str]]) -> None:
        """Refuse a section or key nobody reads: a misspelling must not silently use a default."""
        for name, value in self.document.items():
            if name not in known:
                raise ConfigError(f"{self.path}: unknown section [{name}] (known: {', '.join(sorted(known))})")
            if not isinstance(value, dict):
                raise ConfigError(f"{self.path}: {name} must be a section ([{name}] and its keys below it), "
                                  f"not {value!r}")
            for key in value:
                if key not in known[name]:
                    raise ConfigError(f"{self.path}: unknown key [{name}].{key} "
                                      f"(known: {', '.join(sorted(known[name]))})")

    def section(self, name: str) -> "Section":
        values = self.document.get(name)
        if not isinstance(values, dict):
            raise ConfigError(f"{self.path}: missing section [{name}]")
        return Section(path=self.path, name=name, values=values)


@dataclass(frozen=True, slots=True)
class Section:
    path: Path
    name: str
    values: dict

    def _where(self, key: str) -> str:
        return f"{self.path}: [{self.name}].{key}"

    def text(self, key: str, *, required: bool = True) -> str:
        value = self.values.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{self._where(key)} must be a string, not {value!r}")
        if required and not value:
            raise ConfigError(f"{self._where(key)} is missing (a non-empty string)")
        return value

    def integer(self, key: str, *, default: int, low: int, high: int) -> int:
        value = self.values.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{self._where(key)} must be an integer in {low}..{high}, not {value!r}")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.values.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._where(key)} must be true or false, not {value!r}")
        return value


def load_file(path: Path, what: str, parse: Callable[[bytes], Parsed]) -> Parsed:
    """parse(the file's bytes), every failure a ConfigError naming the file and what it should hold."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (it should hold {what})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        return parse(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ConfigError(f"{path}: not {what} ({error})") from None


def load_signing_key(path: Path, key_id: str, *, whose: str) -> SigningKey:
    """A party's Ed25519 signing key (PEM) under key_id; ConfigError when the file is missing or wrong."""
    return load_file(path, f"{whose} Ed25519 signing key (PEM)", lambda data: signing_key_from_pem(data, key_id))


def load_tls(folder: Path) -> TlsCredentials:
    """The folder's ca.pem, tls.crt and tls.key, each parsed, the key checked against the certificate."""
    def pem_of(parse):
        return lambda data: (data, parse(data))  # Keep the bytes: read each file once.
    ca_pem, _ = load_file(folder / "ca.pem", "the consortium CA certificate (PEM)",
                          pem_of(x509.load_pem_x509_certificate))
    certificate_pem, certificate = load_file(folder / "tls.crt", "a TLS certificate (PEM)",
                                             pem_of(x509.load_pem_x509_certificate))
    key_pem, key = load_file(folder / "tls.key", "a TLS private key (PEM)",
                             pem_of(lambda data: serialization.load_pem_private_key(data, password=None)))
    public_format = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*public_format) != certificate.public_key().public_bytes(*public_format):
        raise ConfigError(f"{folder / 'tls.key'}: not the private key of {folder / 'tls.crt'}")
    return TlsCredentials(ca_pem=ca_pem, certificate_pem=certificate_pem, key_pem=key_pem)
