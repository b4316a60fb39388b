#!/usr/bin/env python3
"""s3_hold.py PORT UPSTREAM_PORT SUFFIX ARMED HELD: an HTTP proxy in front of moto
that forwards every request as is (the SigV4 signature covers the Host it was sent
to, which is ours, and moto checks what it receives), except that while the file
ARMED exists, a PUT to a key ending in SUFFIX is never forwarded nor answered: the
file HELD is created and the client waits, for a kill at that exact point."""
import http.client, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream, suffix, armed, held = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "content-length"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        path = self.path.split("?", 1)[0]
        if self.command == "PUT" and path.endswith(suffix) and os.path.exists(armed):
            open(held, "w").close()
            while True:  # the client is killed meanwhile
                time.sleep(1)
        up = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"expect"}}
        up.request(self.command, self.path, body=body, headers=hdrs)
        r = up.getresponse()
        data = r.read()
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        length = r.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


srv = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
srv.daemon_threads = True
srv.serve_forever()
