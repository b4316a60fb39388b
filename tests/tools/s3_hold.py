#!/usr/bin/env python3
"""s3_hold.py PORT UPSTREAM_PORT METHOD SUFFIX ARMED HELD RELEASE: an HTTP proxy in
front of moto that forwards every request as is (the SigV4 signature covers the Host
it was sent to, ours, and moto checks what it receives). Once, while the file ARMED
exists, a METHOD request for a key ending in SUFFIX is held: ARMED is removed, HELD
created, and nothing is answered until the file RELEASE exists. A PUT is held before
it reaches moto (the client is killed meanwhile), a GET after: its answer is what
the store held when it was asked."""
import http.client, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream = int(sys.argv[1]), int(sys.argv[2])
method, suffix, armed, held, release = sys.argv[3:8]
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}


def wait_release():
    while not os.path.exists(release):
        time.sleep(0.1)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        hold = (self.command == method and self.path.split("?", 1)[0].endswith(suffix)
                and os.path.exists(armed))
        if hold:
            os.unlink(armed)
            open(held, "w").close()
            if method != "GET":
                wait_release()
        up = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"expect"}}
        up.request(self.command, self.path, body=body, headers=hdrs)
        r = up.getresponse()
        data = r.read()
        up.close()
        if hold and method == "GET":
            wait_release()
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        length = r.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


srv = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
srv.daemon_threads = True
srv.serve_forever()
