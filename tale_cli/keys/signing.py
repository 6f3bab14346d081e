"""The key and certificate chain that sign a film's Content Credentials (C2PA), and where they come from.

In order: the files named by TALE_C2PA_CERT and TALE_C2PA_KEY (a PEM chain, signer first, and its PEM private key);
the pair stored in the OS keyring with `tale keys signing import`; else Tale's local chain, made once under Tale's
data folder — a private CA and a signing certificate it issued (C2PA validators refuse a bare self-signed signer).
No viewer trusts that CA, so films signed with it show as signed by an untrusted issuer. The private key is never
printed: callers get it only inside a SigningIdentity, and every value read is registered for redaction.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tale_cli.errors import KeysError
from tale_cli.files import atomic_write_bytes
from tale_cli.keys.redact import register_secret
from tale_cli.keys.store import KEYRING_SERVICE

CERT_ENV = "TALE_C2PA_CERT"
KEY_ENV = "TALE_C2PA_KEY"
KEYRING_CERT = "c2pa-cert"
KEYRING_KEY = "c2pa-key"
LOCAL_ORGANIZATION = "Tale local (untrusted)"
_LOCAL_YEARS = 10


@dataclass(frozen=True)
class SigningIdentity:
    """A PEM certificate chain (signer first) and the signer's PEM private key, and where they came from."""

    chain: bytes
    key: bytes
    source: str  # "files", "keyring" or "local"
    where: str  # the files, "keyring (service tale)", or the local chain's folder
    local_ca: bytes | None = None  # the local CA's certificate, a trust anchor for `tale verify` on this machine

    def __repr__(self) -> str:  # the key stays out of tracebacks and logs
        return f"SigningIdentity(source={self.source!r}, where={self.where!r})"

    @property
    def made_here(self) -> bool:
        return self.source == "local"


@dataclass(frozen=True)
class SigningSource:
    """Where films' credentials are signed from, as `tale keys signing show` prints it (never the key)."""

    source: str  # "files", "keyring", "local" or "local (not made yet)"
    where: str
    subject: str | None
    issuer: str | None
    not_after: str | None
    trusted_by_viewers: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def local_folder() -> Path:
    """Tale's own signing chain: $XDG_DATA_HOME/tale/c2pa (else ~/.local/share/tale/c2pa)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tale" / "c2pa"


def signing_identity(*, make: bool = True) -> SigningIdentity | None:
    """The identity that signs films; Tale's local chain is made when there is none yet (`make`)."""
    cert_file, key_file = os.environ.get(CERT_ENV, "").strip(), os.environ.get(KEY_ENV, "").strip()
    if cert_file or key_file:
        if not (cert_file and key_file):
            raise KeysError(
                f"{CERT_ENV} and {KEY_ENV} go together: one is set, the other is not",
                hint="name both files, or neither to sign with the keyring's or Tale's local certificate",
            )
        chain, key = _read_pem(Path(cert_file), "certificate chain"), _read_pem(Path(key_file), "private key")
        return SigningIdentity(chain, key, "files", f"{cert_file}, {key_file}")
    stored = _keyring_pair()
    if stored is not None:
        return SigningIdentity(stored[0], stored[1], "keyring", f"keyring (service {KEYRING_SERVICE})")
    folder = local_folder()
    if not (folder / "signer.pem").is_file() and not make:
        return None
    return _local_identity(folder)


def local_ca() -> bytes | None:
    """Tale's local CA certificate on this machine, when it has made one: `tale verify` trusts it as "local"."""
    path = local_folder() / "ca.pem"
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def signing_source() -> SigningSource:
    identity = signing_identity(make=False)
    if identity is None:
        return SigningSource("local (not made yet)", str(local_folder()), None, None, None, False)
    subject, issuer, not_after = describe_chain(identity.chain)
    return SigningSource(identity.source, identity.where, subject, issuer, not_after, not identity.made_here)


def describe_chain(chain: bytes) -> tuple[str, str, str]:
    """(subject, issuer, not valid after) of the chain's first certificate."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificates(chain)[0]
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.not_valid_after_utc.isoformat()


def import_identity(cert_file: Path, key_file: Path) -> SigningSource:
    """Store a certificate chain and its private key in the OS keyring, after checking that they belong together."""
    import keyring

    from tale_cli.keys.store import keyring_status

    chain, key = _read_pem(cert_file, "certificate chain"), _read_pem(key_file, "private key")
    check_pair(chain, key)
    status = keyring_status()
    if not status.usable:
        raise KeysError(f"cannot store the signing key: {status.reason}", hint=f"set {CERT_ENV} and {KEY_ENV} instead")
    keyring.set_password(KEYRING_SERVICE, KEYRING_CERT, chain.decode("ascii"))
    keyring.set_password(KEYRING_SERVICE, KEYRING_KEY, key.decode("ascii"))
    if _keyring_pair() is None:
        raise KeysError("the keyring accepted the signing key but does not return it", hint="set the files instead")
    return signing_source()


def delete_identity() -> bool:
    """Remove the keyring's signing pair; True when there was one."""
    import keyring
    from keyring.errors import PasswordDeleteError

    removed = False
    for name in (KEYRING_CERT, KEYRING_KEY):
        try:
            keyring.delete_password(KEYRING_SERVICE, name)
            removed = True
        except PasswordDeleteError:
            pass
    return removed


def check_pair(chain: bytes, key: bytes) -> None:
    """The chain's first certificate is the key's, it is not self-signed, and it may sign (digitalSignature)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(chain)
        private = serialization.load_pem_private_key(key, password=None)
    except ValueError as error:
        raise KeysError(f"the signing certificate or key cannot be read: {str(error)[:120]}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(serialization.Encoding.DER, public) != private.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise KeysError("the private key does not belong to the chain's first certificate")
    if certs[0].subject == certs[0].issuer:
        raise KeysError(
            "the signing certificate is self-signed: C2PA validators refuse it",
            hint="sign it with a CA and give the chain (signer first, then the CA)",
        )
    try:
        usage = certs[0].extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise KeysError("the signing certificate's key usage does not allow digitalSignature")


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.expanduser().read_bytes()
    except OSError as error:
        raise KeysError(f"cannot read the signing {what} {path}: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise KeysError(f"the signing {what} {path} is not PEM")
    if b"PRIVATE KEY" in data:
        register_secret(data.decode("ascii", "replace").strip())
    return data


def _keyring_pair() -> tuple[bytes, bytes] | None:
    try:
        import keyring

        chain = keyring.get_password(KEYRING_SERVICE, KEYRING_CERT)
        key = keyring.get_password(KEYRING_SERVICE, KEYRING_KEY)
    except Exception:
        return None
    if not chain or not key:
        return None
    register_secret(key.strip())
    return chain.encode("ascii"), key.encode("ascii")


def _local_identity(folder: Path) -> SigningIdentity:
    paths = {name: folder / name for name in ("ca.pem", "ca-key.pem", "signer.pem", "signer-key.pem")}
    if not all(path.is_file() for path in paths.values()):
        _make_local_chain(folder)
    ca, chain_cert, key = (paths[name].read_bytes() for name in ("ca.pem", "signer.pem", "signer-key.pem"))
    register_secret(key.decode("ascii").strip())
    return SigningIdentity(chain_cert + ca, key, "local", str(folder), local_ca=ca)


def _make_local_chain(folder: Path) -> None:
    """A private CA (CA:true, keyCertSign) and an ES256 signing certificate it issued (digitalSignature,
    emailProtection), written once with owner-only permissions."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365 * _LOCAL_YEARS)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, common),
            ]
        )

    def usage(*, sign: bool, certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(sign, False, False, False, False, certs, certs, False, False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = name("Tale local CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=False, certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    signer = (
        x509.CertificateBuilder()
        .subject_name(name("Tale local signer"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def private(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    # The certificates last: a chain is complete only once signer.pem is there.
    atomic_write_bytes(folder / "ca-key.pem", private(ca_key), mode=0o600)
    atomic_write_bytes(folder / "signer-key.pem", private(key), mode=0o600)
    atomic_write_bytes(folder / "ca.pem", ca.public_bytes(serialization.Encoding.PEM), mode=0o600)
    atomic_write_bytes(folder / "signer.pem", signer.public_bytes(serialization.Encoding.PEM), mode=0o600)
