#!/usr/bin/env python3
"""The binary by part: bytes of the input sections the linker kept (after --gc-sections),
read from its map file (build/certkeep.map), grouped by our lib/ folder or the library."""
import collections, re, sys

SPECIAL = [  # parts that cut across folders: (name, pattern on the input file)
    ("challenge: dns-01 (RFC 2136, TSIG, hook)", r"lib/(dns/dns|challenge/dns01)\.o$"),
    ("challenge: tls-alpn-01 (ours)", r"lib/(challenge/tlsalpn01|crypto/alpncert)\.o$"),
    ("challenge: tls-alpn-01 (BearSSL's server side)", r"libbearssl\.a\(ssl_(hs_server|server\w*|scert\w*)\.o\)$"),
    ("challenge: central validation (serve)", r"(lib/challenge/central|cmd/certkeep/serve)\.o$"),
    ("challenge: http-01 and webroot", r"lib/challenge/(http01|webroot)\.o$"),
]

def part(f):
    for name, pat in SPECIAL:
        if re.search(pat, f):
            return name
    m = re.search(r"/(lib/\w+)/\w+\.o$", f) or re.search(r"/(cmd/certkeep)/\w+\.o$", f)
    if m:
        return m.group(1)
    m = re.search(r"/lib(\w+)\.a\(", f)
    return ("libc (musl)" if m and m.group(1) in ("c", "pthread") else "lib" + m.group(1)) if m else "start files"

def main(path):
    tot, on, pend = collections.Counter(), False, None
    for line in open(path):
        if line.startswith("Linker script and memory map"):
            on = True
            continue
        if not on:
            continue
        m = re.match(r"^ (\.\S+)\s*$", line)
        if m:
            pend = m.group(1)
            continue
        m = re.match(r"^\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(\S+)\s*$", line) if pend else None
        sec = pend
        if not m:
            m = re.match(r"^ (\.\S+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(\S+)\s*$", line)
            if m:
                sec, size, f = m.group(1), m.group(2), m.group(3)
        else:
            size, f = m.group(1), m.group(2)
        pend = None
        if not m or sec.startswith((".bss", ".tbss")) or sec == ".comment":
            continue
        tot[part(f)] += int(size, 16)
    for name, size in sorted(tot.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<48} {size:>8}")
    print(f"  {'sum of the parts (the file adds headers and alignment)':<48} {sum(tot.values()):>8}")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/certkeep.map")
