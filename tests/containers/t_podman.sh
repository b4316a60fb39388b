#!/usr/bin/env bash
# k8s/pod-classic.yaml with `podman kube play` (Debian's podman 4.3, rootful, runc,
# cgroupfs, storage in $CK_TMP): the classic pair. certkeep-init issues with its own
# http-01 responder and exits 0 before nginx and `certkeep run` start; nginx serves the
# certificate from the shared emptyDir over TLS; run is ready, shares nginx's PID
# namespace (shareProcessNamespace) and issues nothing more. The images come from the
# test's dockerd (certkeep:local by `docker save`, nginx from the debootstrap root).
# A test copy of the manifest changes only image names, ports, Pebble, the moto S3
# server, what host networking refuses (the net sysctl, ports) and restartPolicy
# OnFailure (podman 4.3 restarts a finished init container under Always); the Secret becomes a
# podman secret (podman 4.3 cannot play kind Secret). podman 4.3 cannot run the native
# sidecar (restartPolicy on an init container) nor the Deployment's rolling replicas:
# those manifests are only schema-checked (t_manifests).
set -u
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
plan 14
PEBBLE_PORT=30200 PEBBLE_MGMT_PORT=30201 PEBBLE_TLS01_PORT=30202 PEBBLE_DNS_PORT=30253
PEBBLE_CTS_PORT=30255 PEBBLE_HTTP01_PORT=30280
. "$(dirname "$0")/../e2e/pebble.sh"
S3_PORT=30260
. "$(dirname "$0")/../e2e/s3.sh"
TLS_PORT=30243 HEALTH_PORT=30290
NAME=example.com

W=$CK_TMP/podman-test
PODMAN_DIR=$CK_TMP/podman
mkdir -p "$W"
cleanup() {
    local c
    for c in web-nginx web-certkeep; do podman logs "$c" >"$W/$c.log" 2>&1; done
    podman kube play --down "$W/pod.yaml" >/dev/null 2>&1
    podman_reset
    engine_stop
    s3_stop
    pebble_stop
}
trap cleanup EXIT

echo "-- podman, images"
check_match "podman: rootful, cgroupfs, runc" '^cgroupfs runc ' \
    "$(podman info --format '{{.Host.CgroupManager}} {{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}}' 2>&1)"
if ! engine_start; then fail "podman: dockerd starts (for the image)" "see $CK_TMP/dockerd/dockerd.log"; exit 1; fi
t0=$(now_ms)
certkeep_image >/dev/null
docker save certkeep:local 2>/dev/null | podman load >"$W/load.log" 2>&1
podman tag certkeep:local localhost/certkeep:local 2>/dev/null
check_eq "podman: certkeep image loaded from docker save" \
    "$(docker image inspect -f '{{.Id}}' certkeep:local 2>/dev/null)" \
    "$(podman image inspect -f '{{.Digest}} {{.Id}}' localhost/certkeep:local 2>/dev/null | sed 's/.* /sha256:/')"
"$CK_ROOT/scripts/debian-base.sh" nginx
podman import --change 'CMD ["nginx", "-g", "daemon off;"]' --change "ENV PATH=$NGINX_PATH" \
    "$CK_ROOT/build/containers/bookworm-nginx.tar" localhost/ck-nginx:test >/dev/null 2>&1
check "podman: nginx image imported" podman image exists localhost/ck-nginx:test
echo "  images: $(($(now_ms) - t0)) ms"

if ! PEBBLE_AUTHZREUSE=0 pebble_start; then fail "podman: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "podman: s3 start" "see $S3_LOG"; exit 1; fi

# The test copy: the ConfigMaps and the Pod, in one file for kube play.
PEBBLE_HTTP01_PORT=$PEBBLE_HTTP01_PORT TLS_PORT=$TLS_PORT HEALTH_PORT=$HEALTH_PORT PEBBLE_DIR_URL=$PEBBLE_DIR_URL \
    PEBBLE_CA_BUNDLE=$PEBBLE_CA_BUNDLE python3 - "$CK_ROOT/k8s" "$W" <<'PY'
import base64, json, os, sys, yaml
k8s, w = sys.argv[1], sys.argv[2]
env = os.environ
docs = list(yaml.safe_load_all(open(k8s + "/config.yaml"))) + [yaml.safe_load(open(k8s + "/pod-classic.yaml"))]
http01, tls, health = env["PEBBLE_HTTP01_PORT"], env["TLS_PORT"], env["HEALTH_PORT"]
ports = {80: int(http01), 443: int(tls), 9090: int(health)}
out = []
for d in docs:
    name = d["metadata"]["name"]
    if d["kind"] == "Secret":
        # podman 4.3 reads a secretKeyRef from a podman secret holding {key: base64}
        vals = {"AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"]}
        assert set(vals) == set(d["stringData"]), d["stringData"].keys()
        json.dump({k: base64.b64encode(v.encode()).decode() for k, v in vals.items()}, open(w + "/secret.json", "w"))
        continue
    if name == "certkeep-config":
        c = yaml.safe_load(d["data"]["certkeep.yaml"])
        c["challenge"]["http01_listen"] = ":" + http01
        c["store"]["s3"].update(endpoint=env["S3_ENDPOINT"], bucket=env["S3_BUCKET"], region=env["S3_REGION"], path_style=True)
        c["acme"] = {"directory": env["PEBBLE_DIR_URL"], "ca_bundle": "/etc/certkeep/pebble.pem", "profile": "default"}
        d["data"]["certkeep.yaml"] = yaml.safe_dump(c, sort_keys=False)
        d["data"]["pebble.pem"] = open(env["PEBBLE_CA_BUNDLE"]).read()
    if name == "nginx-site":
        s = d["data"]["default.conf"]
        assert "listen 80;" in s and "listen 443 ssl;" in s
        d["data"]["default.conf"] = s.replace("listen 80;", "listen %s;" % http01).replace("listen 443 ssl;", "listen %s ssl;" % tls)
    if d["kind"] == "Pod":
        spec = d["spec"]
        # podman 4.3 applies the pod's restartPolicy (Always by default) to init
        # containers too: a successful init would run again and again
        spec["restartPolicy"] = "OnFailure"
        sc = spec["securityContext"]
        sc["sysctls"] = [s for s in sc.get("sysctls", []) if not s["name"].startswith("net.")] or None
        if sc["sysctls"] is None:
            del sc["sysctls"]
        for c in spec["initContainers"] + spec["containers"]:
            if c["image"].startswith("nginx:"):
                c["image"] = "localhost/ck-nginx:test"
            c["args"] = [{":80": ":" + http01, ":9090": "127.0.0.1:" + health}.get(a, a) for a in c.get("args", [])]
            c.pop("ports", None)  # host networking: podman refuses port mappings
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe in c:
                    c[probe]["httpGet"]["port"] = ports[c[probe]["httpGet"]["port"]]
    out.append(d)
yaml.safe_dump_all(out, open(w + "/pod.yaml", "w"), sort_keys=False)
PY
[ -s "$W/pod.yaml" ] || { fail "podman: test copy of the manifest" "see above"; exit 1; }
podman secret rm certkeep-s3 >/dev/null 2>&1
podman secret create certkeep-s3 "$W/secret.json" >/dev/null

served_serial() {
    openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername "$NAME" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
wait_for() {  # wait_for SECONDS CMD...: until CMD succeeds
    local t=$(($1 * 5)); shift
    while [ $t -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; t=$((t - 1)); done
    return 1
}
same() { if [ -n "$2" ] && [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

echo "-- kube play: init, then nginx and run"
t0=$(now_ms)
podman kube play --network host "$W/pod.yaml" >"$W/play.log" 2>&1
rc=$?
echo "  kube play: $(($(now_ms) - t0)) ms"
check_eq "podman: kube play exits 0 (log: $W/play.log)" 0 "$rc"
if [ "$rc" != 0 ]; then
    tail -n 5 "$W/play.log"
    podman logs web-certkeep-init >"$W/init.log" 2>&1
    podman events --stream=false --since 10m >"$W/events.log" 2>&1
    exit 1
fi
# The init container is removed once it succeeded (podman's "once" init type): its
# exit and the others' start are in podman's event log.
events=$(podman events --stream=false --since 10m --format '{{.Status}} {{.Name}} {{.ContainerExitCode}}' 2>/dev/null)
check_match "podman: init exited 0" '^died web-certkeep-init 0$' "$events"
order=$(printf '%s\n' "$events" | grep -nE '^(died web-certkeep-init|start web-nginx|start web-certkeep) ' | cut -d: -f1 | tr '\n' ' ')
if printf '%s\n' "$events" | awk '/^died web-certkeep-init /{d=NR} /^start web-(nginx|certkeep) /{s[++n]=NR} END{exit !(d && n == 2 && s[1] > d && s[2] > d)}'
then pass "podman: nginx and run started after init exited"
else fail "podman: nginx and run started after init exited" "event lines $order: $(printf '%s' "$events" | tr '\n' ';' | head -c 300)"; fi
check_eq "podman: init issued once" 1 "$(pebble_issued_count)"
check_eq "podman: nginx and run are running" "running running" \
    "$(podman inspect -f '{{.State.Status}}' web-nginx web-certkeep 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
certs=$(podman inspect -f '{{range .Mounts}}{{if eq .Destination "/certs"}}{{.Source}}{{end}}{{end}}' web-nginx 2>/dev/null)
FILE=$(openssl x509 -in "$certs/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2)
wait_for 30 served_serial
same "podman: nginx serves the emptyDir's certificate over TLS ($FILE)" "$FILE" "$(served_serial)"
check_eq "podman: key 0600 owned by 65532" "600 65532" "$(stat -c '%a %u' "$certs/$NAME/privkey.pem" 2>/dev/null)"
check "podman: certkeep run is ready" wait_for 30 curl -fsS -o /dev/null "http://127.0.0.1:$HEALTH_PORT/readyz"
ns() { readlink "/proc/$(podman inspect -f '{{.State.Pid}}' "$1" 2>/dev/null)/ns/pid"; }
same "podman: run shares nginx's PID namespace" "$(ns web-nginx)" "$(ns web-certkeep)"
check_eq "podman: run issued nothing more" 1 "$(pebble_issued_count)"
stored=$(s3_py 'import json; print(json.loads(s3.get_object(Bucket=bucket, Key="web/certs/example.com/current.json")["Body"].read())["serial"])' 2>/dev/null)
same "podman: the store holds the served serial" "$(echo "$FILE" | tr 'A-F' 'a-f' | sed 's/^0*//')" \
    "$(echo "$stored" | tr 'A-F' 'a-f' | sed 's/^0*//')"
