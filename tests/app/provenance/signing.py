"""A C2PA signing chain made at test time (no private key is ever committed), and clips
signed with it through c2pa's own Builder.

The chain is what C2PA signing accepts: an EC P-256 root (CA, keyCertSign + cRLSign, SKI)
and a leaf for ES256 (digitalSignature, the emailProtection EKU, SKI and AKI); a leaf
without the EKU is refused."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
ORGANISATION = "distilscreen tests"
SIGNER = "distilscreen test generator"
GENERATOR = ("distilscreen-test-generator", "1.0")


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
    ])


def _usage(**allowed: bool) -> x509.KeyUsage:
    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{flag: allowed.get(flag, False) for flag in flags})


def _certificate(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                 issuer_key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


@dataclass(frozen=True)
class Chain:
    """A root and a leaf signed by it, with the leaf's key, as PEM."""

    root_pem: bytes
    leaf_pem: bytes
    leaf_key_pem: bytes

    @classmethod
    def make(cls) -> Chain:
        root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        root_name = _name("distilscreen test root")
        root = (
            _certificate(root_name, root_name, root_key, root_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        leaf = (
            _certificate(_name(SIGNER), root_name, leaf_key, root_key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return cls(root.public_bytes(pem), leaf.public_bytes(pem), key)

    def signer(self) -> c2pa.Signer:
        chain = self.leaf_pem + self.root_pem  # the leaf first
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, self.leaf_key_pem, None)
        return c2pa.Signer.from_info(info)


def manifest(source_type: str, title: str) -> dict:
    """A manifest whose one action creates the media from `source_type` (an IPTC name)."""
    return {
        "claim_generator_info": [{"name": GENERATOR[0], "version": GENERATOR[1]}],
        "title": title,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": IPTC + source_type},
        ]}}],
    }


def sign(chain: Chain, data: bytes, mime: str, source_type: str = "trainedAlgorithmicMedia",
         remote_url: str | None = None) -> bytes:
    """`data` signed with `chain`: its manifest embedded, or only a reference to `remote_url`."""
    builder = c2pa.Builder(manifest(source_type, f"signed.{mime.rsplit('/', 1)[-1]}"))
    if remote_url is not None:
        builder.set_no_embed()
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    with chain.signer() as signer:
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def sign_file(chain: Chain, path: Path, to: Path, **kwargs: str) -> Path:
    """The MP4 at `path`, signed, at `to`."""
    to.write_bytes(sign(chain, path.read_bytes(), "video/mp4", **kwargs))
    return to
