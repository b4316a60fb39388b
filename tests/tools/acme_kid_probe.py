#!/usr/bin/env python3
"""acme_kid_probe.py DIR_URL CAFILE KEY_PEM ACCOUNT_URL: one POST-as-GET to the
account URL signed with KEY_PEM under that account's kid, as a replica holding
the key would send it; prints the HTTP status and the problem type (or the
account's status). An independent client: what the CA says of a key."""
import base64, json, ssl, sys, urllib.request, urllib.error
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


dir_url, cafile, key_pem, acct = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
key = serialization.load_pem_private_key(open(key_pem, "rb").read(), None)
d = json.load(urllib.request.urlopen(dir_url, context=ctx))
if isinstance(key, ec.EllipticCurvePrivateKey):
    size = (key.curve.key_size + 7) // 8
    alg, h = ("ES256", hashes.SHA256()) if size == 32 else ("ES384", hashes.SHA384())
else:
    alg, h = "RS256", hashes.SHA256()


def post():
    nonce = urllib.request.urlopen(urllib.request.Request(d["newNonce"], method="HEAD"),
                                   context=ctx).headers["Replay-Nonce"]
    prot = b64u(json.dumps({"alg": alg, "kid": acct, "nonce": nonce, "url": acct}).encode())
    signing_input = (prot + ".").encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), h)
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(h)))
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    body = json.dumps({"protected": prot, "payload": "", "signature": b64u(sig)}).encode()
    req = urllib.request.Request(acct, data=body, headers={"Content-Type": "application/jose+json"})
    try:
        resp = urllib.request.urlopen(req, context=ctx)
        return "%d %s" % (resp.status, json.load(resp).get("status"))
    except urllib.error.HTTPError as err:
        return "%d %s" % (err.code, json.loads(err.read() or b"{}").get("type", "?"))


for _ in range(20):  # Pebble rejects a share of good nonces
    said = post()
    if not said.endswith(":badNonce"):
        break
print(said)
