#!/usr/bin/env python3
"""Starvation attack on an HTTP listener, for tests/e2e/t_starve.sh and bench.

hold_conns.py HOST PORT [--idle N] [--drip M] [--burst B] [--source ADDR] [--status FILE]
              [--seconds S]

Holds N idle connections (connect, send nothing) and M slow-drip ones (one byte of
a request head every second, never the blank line that ends it) open to HOST:PORT
from one source address, throughout: each one the server closes is opened again at
once (a refused connect: 50 ms later, so it can start before the server). --burst:
every connection first sends B bytes of such a head (to measure buffer memory).
Writes "open=<connected now> max=<most at once> reopened=<count>" to FILE every
0.2 s. Ends on SIGTERM/SIGINT or after S seconds.
"""
import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import time

DRIP = b"GET /.well-known/acme-challenge/drip HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 100000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--drip", type=int, default=0)
    ap.add_argument("--burst", type=int, default=0)
    ap.add_argument("--source", default="")
    ap.add_argument("--status", default="")
    ap.add_argument("--seconds", type=float, default=0)
    a = ap.parse_args()

    want = a.idle + a.drip + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> [kind, connected, bytes dripped]
    stats = {"open": 0, "max": 0, "reopened": 0}
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET

    later = []  # (when, kind): connects refused (nothing listening yet), tried again

    def opening(kind):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        if a.source:
            s.bind((a.source, 0))
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            later.append((time.monotonic() + 0.05, kind))
            return
        conns[s] = [kind, False, 0]
        sel.register(s, selectors.EVENT_WRITE)

    def closed(s):
        kind, connected = conns[s][0], conns[s][1]
        sel.unregister(s)
        s.close()
        del conns[s]
        if connected:
            stats["open"] -= 1
            stats["reopened"] += 1
            opening(kind)
        else:
            later.append((time.monotonic() + 0.05, kind))

    for _ in range(a.idle):
        opening("idle")
    for _ in range(a.drip):
        opening("drip")

    end = time.monotonic() + a.seconds if a.seconds else None
    next_drip = next_status = time.monotonic()
    while not stop and (end is None or time.monotonic() < end):
        for key, ev in sel.select(timeout=0.1):
            s = key.fileobj
            if s not in conns:
                continue
            st = conns[s]
            if not st[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    closed(s)
                    continue
                st[1] = True
                if a.burst:
                    try:
                        st[2] = s.send(DRIP[:a.burst])
                    except OSError:
                        pass
                stats["open"] += 1
                stats["max"] = max(stats["max"], stats["open"])
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the server (or reset): open another
                closed(s)
        now = time.monotonic()
        if later and later[0][0] <= now:
            due = [k for t, k in later if t <= now]
            later[:] = [(t, k) for t, k in later if t > now]
            for k in due:
                opening(k)
        if now >= next_drip:
            next_drip = now + 1
            for s, st in list(conns.items()):
                if st[0] == "drip" and st[1]:
                    try:
                        s.send(DRIP[st[2]:st[2] + 1])
                        st[2] += 1
                    except OSError as e:
                        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                            closed(s)
        if a.status and now >= next_status:
            next_status = now + 0.2
            tmp = a.status + ".tmp"
            with open(tmp, "w") as f:
                f.write("open=%d max=%d reopened=%d\n" % (stats["open"], stats["max"], stats["reopened"]))
            os.replace(tmp, a.status)
    for s in list(conns):
        s.close()


if __name__ == "__main__":
    main()
