#!/usr/bin/env python3
"""jwk_thumb.py < KEY_PEM: the RFC 7638 thumbprint of the private key's public half."""
import base64, hashlib, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


k = serialization.load_pem_private_key(sys.stdin.buffer.read(), None).public_key()
n = k.public_numbers()
if isinstance(k, ec.EllipticCurvePublicKey):
    size = (k.curve.key_size + 7) // 8
    jwk = {"crv": "P-%d" % k.curve.key_size, "kty": "EC",
           "x": b64u(n.x.to_bytes(size, "big")), "y": b64u(n.y.to_bytes(size, "big"))}
else:
    jwk = {"e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")), "kty": "RSA",
           "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big"))}
print(b64u(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()))
