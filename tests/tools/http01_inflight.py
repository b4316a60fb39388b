#!/usr/bin/env python3
"""An http-01 responder from a webroot that counts the orders in flight: the most
distinct names (a leading www. folded into its base name) being asked at once goes to
OUT. Each answer is held DELAY seconds so that concurrent orders overlap (Pebble asks
each challenge from several perspectives at once).
Usage: http01_inflight.py PORT WEBROOT OUT [DELAY]"""
import http.server, os, sys, threading, time

port, root, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
lock = threading.Lock(); busy = {}; state = {"max": 0}


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        order = self.headers.get("Host", "").split(":")[0]
        order = order[4:] if order.startswith("www.") else order
        with lock:
            busy[order] = busy.get(order, 0) + 1
            n = sum(1 for v in busy.values() if v)
            if n > state["max"]:
                state["max"] = n
                open(out, "w").write(str(n))
        try:
            time.sleep(delay)
            p = os.path.join(root, self.path.lstrip("/"))
            if ".." in self.path or not os.path.isfile(p):
                self.send_response(404); self.end_headers(); return
            body = open(p, "rb").read()
            self.send_response(200); self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        finally:
            with lock:
                busy[order] -= 1

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
