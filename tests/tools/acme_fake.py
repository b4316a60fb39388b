#!/usr/bin/env python3
"""A deliberately small, hostile-on-demand ACME server for lib/acme's unit tests.

    acme_fake.py PORT WORKDIR

Plain HTTP on 127.0.0.1:PORT. Every behaviour lives under /<mode>/, its directory at
/<mode>/dir. Each request is appended to WORKDIR/requests.log ("METHOD /path").
JWS requests are checked (nonce known and unused, url matching, jwk only for
newAccount) and refused with a "malformed" problem otherwise.

Modes:
  good       a full issuance: authorizations already valid, certificate signed by
             openssl from the CSR, served as the leaf alone with Link rel="up"
             (intermediate as DER, then the self-signed root as PEM)
  garbage    the directory is not JSON
  huge       the directory is 3 MiB
  problem    newAccount answers a problem document with subproblems
  ratelimit  newAccount answers 429 rateLimited with Retry-After: 120
  tos        accounts need termsOfServiceAgreed (403 userActionRequired)
  badnonce3  the first 3 nonces of every POST are refused (badNonce)
  badnonce   every nonce is refused
  invalid    the order goes invalid after finalize with an order error
  mismatch   the certificate served is for another key
  manyauthz  the order lists 1000 authorizations
  badtoken   the pending authorization's http-01 token is "../../etc/passwd"
  notjson    newOrder answers 201 with a body that is not JSON
  ready      newOrder answers an order that is ready (every authorization valid)
  chalvalid  the authorization is pending; the CA validates inside the challenge POST,
             whose answer is "valid"
  notready   the first finalize is refused with orderNotReady (a CA lagging behind
             its authorizations); the order then reads ready
"""
import base64
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
WORK = sys.argv[2]
BASE = f"http://127.0.0.1:{PORT}"
LOCK = threading.Lock()
NONCES = set()
COUNTER = itertools.count(1)
REFUSED = {}  # (mode, url) -> badNonce answers so far


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def run(*args):
    subprocess.run(args, check=True, capture_output=True)


def make_ca():
    """Root (self-signed) and intermediate, once."""
    if os.path.exists(f"{WORK}/int.pem"):
        return
    ext = f"{WORK}/ca.ext"
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "30", "-subj", "/CN=Fake Root X", "-keyout", f"{WORK}/root.key",
        "-out", f"{WORK}/root.pem")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=Fake Intermediate Y", "-keyout", f"{WORK}/int.key", "-out", f"{WORK}/int.csr")
    run("openssl", "x509", "-req", "-in", f"{WORK}/int.csr", "-CA", f"{WORK}/root.pem",
        "-CAkey", f"{WORK}/root.key", "-CAcreateserial", "-days", "30", "-extfile", ext,
        "-out", f"{WORK}/int.pem")
    run("openssl", "x509", "-in", f"{WORK}/int.pem", "-outform", "DER", "-out", f"{WORK}/int.der")


def sign_csr(csr_der, n, other_key):
    """Leaf for the CSR (or, with other_key, for a fresh unrelated key)."""
    make_ca()
    csr = f"{WORK}/leaf{n}.csr"
    with open(csr, "wb") as f:
        f.write(csr_der)
    if other_key:
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=other", "-keyout", f"{WORK}/other{n}.key", "-out", csr)
    else:
        run("openssl", "req", "-in", csr, "-inform", "DER", "-out", csr)
    with open(f"{WORK}/leaf.ext", "w") as f:
        f.write("subjectAltName=DNS:a.example.com\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", f"{WORK}/int.pem", "-CAkey", f"{WORK}/int.key",
        "-CAcreateserial", "-days", "30", "-extfile", f"{WORK}/leaf.ext", "-out", f"{WORK}/leaf{n}.pem")
    with open(f"{WORK}/leaf{n}.pem", "rb") as f:
        return f.read()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        nonce = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
        with LOCK:
            NONCES.add(nonce)
        self.send_header("Replay-Nonce", nonce)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def problem(self, status, ptype, detail, extra=None, headers=()):
        doc = {"type": "urn:ietf:params:acme:error:" + ptype, "detail": detail}
        doc.update(extra or {})
        self.send(status, doc, "application/problem+json", headers)

    def record(self):
        with LOCK, open(f"{WORK}/requests.log", "a") as f:
            f.write(f"{self.command} {self.path}\n")

    def mode_path(self):
        parts = self.path.split("/", 2)
        return (parts[1], "/" + parts[2]) if len(parts) == 3 else ("", self.path)

    def do_HEAD(self):
        self.record()
        self.send(200)

    def do_GET(self):
        self.record()
        mode, p = self.mode_path()
        u = f"{BASE}/{mode}"
        if p == "/dir":
            if mode == "garbage":
                return self.send(200, "<html>this is { not json", "text/html")
            if mode == "huge":
                return self.send(200, "[" + " " * (3 << 20) + "]")
            return self.send(200, {
                "newNonce": u + "/nonce", "newAccount": u + "/acct", "newOrder": u + "/order",
                "revokeCert": u + "/revoke", "renewalInfo": u + "/ari",
                "meta": {"termsOfService": "https://fake.test/tos-v7.pdf",
                         "profiles": {"classic": "90 days", "tlsserver": "t", "shortlived": "s"}}})
        if p.startswith("/ari/"):
            return self.send(200, {"suggestedWindow": {"start": "2026-01-02T03:04:05.123+01:00",
                                                       "end": "2026-01-03T00:00:00Z"}},
                             headers=[("Retry-After", "21600")])
        if p == "/int":
            make_ca()
            with open(f"{WORK}/int.der", "rb") as f:
                return self.send(200, f.read(), "application/pkix-cert",
                                 [("Link", f'<{u}/root>;rel="up"')])
        if p == "/root":
            make_ca()
            with open(f"{WORK}/root.pem", "rb") as f:
                return self.send(200, f.read(), "application/pem-certificate-chain")
        self.send(404, "no")

    def do_POST(self):
        self.record()
        mode, p = self.mode_path()
        u = f"{BASE}/{mode}"
        n = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(n))
        prot = json.loads(b64u_dec(jws["protected"]))
        payload = b64u_dec(jws["payload"]) if jws["payload"] else b""
        url = BASE + self.path
        with LOCK:
            known = prot.get("nonce") in NONCES
            NONCES.discard(prot.get("nonce"))
        if not known:
            return self.problem(400, "badNonce", "unknown nonce")
        if mode.startswith("badnonce"):
            with LOCK:
                k = REFUSED.get(url, 0)
                REFUSED[url] = k + 1
            if mode == "badnonce" or k < 3:
                return self.problem(400, "badNonce", "JWS has an invalid anti-replay nonce")
        if prot.get("url") != url:
            return self.problem(400, "malformed", "url mismatch")
        if p == "/acct":
            if "jwk" not in prot or "kid" in prot:
                return self.problem(400, "malformed", "newAccount needs jwk")
        elif "kid" not in prot or "jwk" in prot:
            return self.problem(400, "malformed", "needs kid")
        body = json.loads(payload) if payload else None
        if p == "/acct":
            if mode == "problem":
                return self.problem(400, "rejectedIdentifier", "Some names are forbidden", {
                    "subproblems": [
                        {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
                         "detail": "forbidden name", "identifier": {"type": "dns", "value": "bad.example"}},
                        {"type": "urn:ietf:params:acme:error:caa", "detail": "CAA forbids\nissuance",
                         "identifier": {"type": "dns", "value": "caa.example"}}]})
            if mode == "ratelimit":
                return self.problem(429, "rateLimited", "too many new accounts", headers=[("Retry-After", "120")])
            if body.get("onlyReturnExisting"):
                return self.problem(400, "accountDoesNotExist", "no account for this key")
            if mode == "tos" and not body.get("termsOfServiceAgreed"):
                return self.problem(403, "userActionRequired", "Terms of service have changed",
                                    headers=[("Link", '<https://fake.test/tos-v7.pdf>;rel="terms-of-service"')])
            return self.send(201, {"status": "valid", "contact": body.get("contact", [])},
                             headers=[("Location", u + "/acct/1")])
        if p == "/order":
            o = self.order(u, "ready" if mode == "ready" else "pending")
            if mode == "manyauthz":
                o["authorizations"] = [f"{u}/authz/{i}" for i in range(1000)]
            if mode == "notjson":
                return self.send(201, "{\"status\": \"pending\", ", headers=[("Location", u + "/order/1")])
            return self.send(201, o, headers=[("Location", u + "/order/1")])
        if p == "/authz/1" and mode == "badtoken":
            return self.send(200, {"status": "pending", "identifier": {"type": "dns", "value": "a.example.com"},
                                   "challenges": [{"type": "http-01", "url": u + "/chall/1", "status": "pending",
                                                   "token": "../../etc/passwd"}]})
        if p == "/authz/1" and mode == "chalvalid":
            with LOCK:
                st = "valid" if os.path.exists(f"{WORK}/answered-{mode}") else "pending"
            return self.send(200, {"status": st, "identifier": {"type": "dns", "value": "a.example.com"},
                                   "challenges": [{"type": "http-01", "url": u + "/chall/1", "status": st,
                                                   "token": "tok-" + mode}]})
        if p == "/chall/1" and mode == "chalvalid":
            open(f"{WORK}/answered-{mode}", "w").close()
            return self.send(200, {"type": "http-01", "url": u + "/chall/1", "status": "valid",
                                   "token": "tok-" + mode})
        if p == "/authz/1":
            return self.send(200, {"status": "valid", "identifier": {"type": "dns", "value": "a.example.com"},
                                   "challenges": []})
        if p == "/order/1":
            with LOCK:
                st = "valid" if os.path.exists(f"{WORK}/finalized-{mode}") else "ready"
            if st == "valid" and mode == "invalid":
                return self.send(200, dict(self.order(u, "invalid"), error={
                    "type": "urn:ietf:params:acme:error:badCSR", "detail": "CSR names a forbidden key"}))
            return self.send(200, self.order(u, st))
        if p == "/finalize" and mode == "notready" and not os.path.exists(f"{WORK}/refused-{mode}"):
            open(f"{WORK}/refused-{mode}", "w").close()
            return self.problem(403, "orderNotReady", 'Order\'s status ("pending") is not acceptable for finalization')
        if p == "/finalize":
            csr = b64u_dec(body["csr"])
            n = next(COUNTER)
            pem = sign_csr(csr, n, mode == "mismatch")
            with open(f"{WORK}/cert-{mode}.pem", "wb") as f:
                f.write(pem)
            open(f"{WORK}/finalized-{mode}", "w").close()
            return self.send(200, self.order(u, "processing"))
        if p == "/cert":
            with open(f"{WORK}/cert-{mode}.pem", "rb") as f:
                return self.send(200, f.read(), "application/pem-certificate-chain",
                                 [("Link", f'<{u}/int>;rel="up"')])
        if p == "/revoke":
            return self.send(200, "")
        self.problem(404, "malformed", "no such resource " + p)

    @staticmethod
    def order(u, status):
        return {"status": status, "identifiers": [{"type": "dns", "value": "a.example.com"}],
                "authorizations": [u + "/authz/1"], "finalize": u + "/finalize", "certificate": u + "/cert"}


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
    with open(f"{WORK}/ready", "w") as f:
        f.write("ok\n")
    srv.serve_forever()
