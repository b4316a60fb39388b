#!/usr/bin/env bash
# Every shipped manifest, checked offline (issue 8, "Every manifest is schema-checked
# offline"): the Kubernetes ones against kubernetes-models (types, enums, required
# fields) and @kubernetes/client-node's models (unknown or misspelled fields), the
# kustomize overlay as `kubectl kustomize` renders it, certkeep's policy for its
# containers, every certkeep flag, variable and config key against the binary, and the
# compose file with `docker-compose config -q`. Broken fixtures prove each check can
# fail. Tools: scripts/setup.sh (node, npm ci in tests/tools, docker-compose, kubectl).
set -u
. "$(dirname "$0")/lib.sh"
plan 27

K=$CK_ROOT/k8s
TOOLS=$CK_ROOT/tests/tools
FIX=$CK_ROOT/tests/fixtures
W=$CK_TMP/manifests
mkdir -p "$W"
checker() { node "$TOOLS/check-manifests.mjs" "$@"; }

# The manifests, by name: a new file under k8s/ must be added here (check below).
FULL=(config.yaml pod-native-sidecar.yaml pod-classic.yaml deployment.yaml kustomize/example/deployment.yaml)
PARTIAL=(kustomize/certkeep-sidecar/sidecar.yaml)
KUSTOMIZE=(kustomize/certkeep-sidecar/kustomization.yaml kustomize/example/kustomization.yaml
           kustomize/certkeep-sidecar/certkeep.yaml)

if [ ! -x "$CK_BIN" ]; then
    fail "manifests: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! command -v node >/dev/null || [ ! -d "$TOOLS/node_modules/kubernetes-models" ]; then
    fail "manifests: tools" "node or tests/tools/node_modules missing (scripts/setup.sh)"
    exit 1
fi

# 1-6: schema of each manifest (the component's patch is partial: unknown fields only).
for f in "${FULL[@]}"; do check "manifests: schema k8s/$f" checker "$K/$f"; done
check "manifests: schema (patch) k8s/${PARTIAL[0]}" checker --partial "$K/${PARTIAL[0]}"

# 7: nothing under k8s/ escapes the lists above.
listed=$(printf '%s\n' "${FULL[@]}" "${PARTIAL[@]}" "${KUSTOMIZE[@]}" | sort)
found=$(cd "$K" && find . -name '*.yaml' -o -name '*.yml' | sed 's|^\./||' | sort)
check_eq "manifests: every k8s/ YAML file is checked" "$listed" "$found"

# 8-10: the component renders offline into the example overlay, which passes the schema
# and keeps the app while adding certkeep.
if command -v kubectl >/dev/null && kubectl kustomize "$K/kustomize/example" >"$W/rendered.yaml" 2>"$W/kustomize.err"; then
    pass "manifests: kubectl kustomize renders the example overlay"
    check "manifests: schema of the rendered overlay" checker "$W/rendered.yaml"
    got=$(python3 - "$W/rendered.yaml" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
names = {(d["kind"], d["metadata"]["name"]) for d in docs}
dep = [d for d in docs if d["kind"] == "Deployment"][0]["spec"]["template"]["spec"]
secret = [n for k, n in names if k == "Secret"]
refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in dep["containers"] + dep["initContainers"]
        for e in c.get("env", []) if "valueFrom" in e}
cms = {v["configMap"]["name"] for v in dep["volumes"] if "configMap" in v}
print(" ".join(sorted(c["name"] for c in dep["containers"])),
      " ".join(c["name"] for c in dep["initContainers"]),
      dep.get("shareProcessNamespace"),
      refs == set(secret) and len(secret) == 1,
      cms <= {n for k, n in names if k == "ConfigMap"} and len(cms) == 2)
PY
)
    check_eq "manifests: overlay = app + certkeep init and run, shared PIDs, generated names resolved" \
        "certkeep nginx certkeep-init True True True" "$got"
else
    if command -v kubectl >/dev/null; then
        fail "manifests: kubectl kustomize renders the example overlay" "$(tail -n 3 "$W/kustomize.err" | tr '\n' ' ')"
        skip 2 "manifests: overlay checks (kustomize failed)"
    else
        skip 3 "manifests: kubectl not installed (scripts/setup.sh installs it)"
    fi
fi

# 11-14: each broken fixture is refused with a line naming the field.
bad() {  # NAME FILE REGEX
    local out
    if out=$(checker "$FIX/k8s-bad/$2" 2>&1); then fail "$1" "accepted: $2"
    else check_match "$1" "$3" "$out"; fi
}
bad "manifests: a misspelled field is refused by name" misspelled-field.yaml \
    'containers\[0\]\.volumeMount: unknown field "volumeMount".*did you mean "volumeMounts"'
bad "manifests: a wrong type is refused by name" wrong-type.yaml 'containerPort: must be integer'
bad "manifests: a missing required field is refused by name" missing-required.yaml \
    "containers\.0: must have required property.*'name'"
bad "manifests: a bad enum is refused by name" bad-enum.yaml \
    'imagePullPolicy: must be equal to one of the allowed values \(Always, IfNotPresent, Never\)'

# 15-16: policy for certkeep containers (securityContext, probes, tags, secrets, sysctl).
pol=("${FULL[@]:0:4}"); pol=("${pol[@]/#/$K/}")
[ -f "$W/rendered.yaml" ] && pol+=("$W/rendered.yaml")
check "manifests: policy holds for every certkeep container" checker --policy "${pol[@]}"
out=$(checker --policy "$FIX/k8s-bad-policy/pod.yaml" 2>&1)
n=0
for re in 'image certkeep:latest' 'readOnlyRootFilesystem must be true' 'readinessProbe .* missing' \
          'envFrom' 'env AWS_SECRET_ACCESS_KEY: a secret comes only from secretKeyRef' \
          'ip_unprivileged_port_start' 'container nginx: runs as 101: certkeep \(65532\) cannot signal it'; do
    printf '%s' "$out" | grep -Eq -- "$re" && n=$((n + 1))
done
check_eq "manifests: the policy fixture is refused on all 7 counts" 7 "$n"

# certkeep_accepts ENVFILE ARGS...: the binary parses the flags, variables and config
# (exit 2 is a configuration error); status stays offline: the store is pointed at a
# closed local port, out/state at temporary directories.
certkeep_accepts() {
    local envfile=$1; shift
    (set -a; . "$envfile"; set +a
     : "${AWS_ACCESS_KEY_ID:=placeholder}" "${AWS_SECRET_ACCESS_KEY:=placeholder}"
     export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
     timeout 30 "$CK_BIN" "$@" --out "$W/out" --state "$W/state" \
         --s3-endpoint http://127.0.0.1:9 --s3-path-style >"$W/status.out" 2>&1)
    local rc=$?
    # 0: a usable certificate, 1: none or the store unreachable; 2 is the configuration.
    [ $rc -le 1 ] || { echo "exit $rc: $(cat "$W/status.out")"; return 1; }
}
python3 - "$K/config.yaml" "$W/certkeep.yaml" <<'PY'
import sys, yaml
cm = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == "ConfigMap"
      and d["metadata"]["name"] == "certkeep-config"][0]
open(sys.argv[2], "w").write(cm["data"]["certkeep.yaml"])
PY
: >"$W/empty.env"

# 17-19: the ConfigMap's and the component's config, and a misspelled key refused.
check "manifests: the ConfigMap's certkeep.yaml is accepted by certkeep" \
    certkeep_accepts "$W/empty.env" status --config "$W/certkeep.yaml"
check "manifests: the component's certkeep.yaml is accepted by certkeep" \
    certkeep_accepts "$W/empty.env" status --config "$K/kustomize/certkeep-sidecar/certkeep.yaml"
sed 's/^email:/emial:/' "$W/certkeep.yaml" >"$W/misspelled.yaml"
"$CK_BIN" status --config "$W/misspelled.yaml" >"$W/mis.out" 2>&1
check_eq "manifests: a misspelled config key exits 2 (the check above can fail)" 2 "$?"

# 20-21: each certkeep container's args and env (the command replaced by status, the
# mounted config by the ConfigMap's file) are accepted.
checker --certkeep "${FULL[@]/#/$K/}" "$K/${PARTIAL[0]}" >"$W/containers.jsonl"
python3 - "$W/containers.jsonl" "$W" >"$W/containers.list" <<'PY'
import json, shlex, sys
w = sys.argv[2]
for i, line in enumerate(open(sys.argv[1])):
    c = json.loads(line)
    args = ["status"] + [w + "/certkeep.yaml" if a == "/etc/certkeep/certkeep.yaml" else a for a in c["args"][1:]]
    env = "".join("%s=%s\n" % (k, shlex.quote("placeholder" if v == "from-ref" else v)) for k, v in c["env"].items())
    open("%s/c%d.env" % (w, i), "w").write(env)
    open("%s/c%d.args" % (w, i), "w").write("\0".join(args))
    print(i, c["args"][0], c["file"].split("/k8s/")[-1] + ":" + c["name"])
PY
bad_list=""
while read -r i cmd where; do
    case $cmd in init|run) ;; *) bad_list="$bad_list $where: command $cmd;"; continue ;; esac
    mapfile -d '' -t a <"$W/c$i.args"
    why=$(certkeep_accepts "$W/c$i.env" "${a[@]}") || bad_list="$bad_list $where: $why;"
done <"$W/containers.list"
check_eq "manifests: every certkeep container's flags and env are accepted" "" "$bad_list"
check_eq "manifests: certkeep containers found (native, classic init+run, deployment, component init+run)" \
    6 "$(wc -l <"$W/containers.list")"

# 22-27: the compose file.
C=$CK_ROOT/docker/compose.yaml
if ! command -v docker-compose >/dev/null; then
    skip 6 "manifests: docker-compose not installed (scripts/setup.sh installs it)"
    exit 0
fi
export AWS_ACCESS_KEY_ID=placeholder AWS_SECRET_ACCESS_KEY=placeholder
check "manifests: docker-compose config -q accepts docker/compose.yaml" docker-compose -f "$C" config -q
sed 's/^    depends_on:/    depend_on:/' "$C" >"$W/compose-misspelled.yaml"
out=$(docker-compose -f "$W/compose-misspelled.yaml" config -q 2>&1); rc=$?
if [ $rc -eq 0 ]; then fail "manifests: a misspelled compose key is refused" "exit 0"
else check_match "manifests: a misspelled compose key is refused" "depend_on" "$out"; fi
docker-compose -f "$C" config >"$W/compose.yaml" 2>"$W/compose.err"
got=$(python3 - "$W/compose.yaml" <<'PY'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"]
init, run, nginx = s["certkeep-init"], s["certkeep"], s["nginx"]
ok = []
ok.append(init["command"][0] == "init" and run["command"][0] == "run")
ok.append(nginx["depends_on"]["certkeep-init"]["condition"] == "service_completed_successfully"
          and "nginx" in run["depends_on"])
ok.append(run["pid"] == "service:nginx" and run["network_mode"] == "service:nginx")
ok.append(run["environment"].get("CERTKEEP_RELOAD_PROCESS") == "nginx"
          and "CERTKEEP_RELOAD_PROCESS" not in init["environment"])
ok.append(all(str(x.get("sysctls", {}).get("net.ipv4.ip_unprivileged_port_start")) == "0" for x in (init, nginx)))
ok.append(all(x["user"] == "65532:65532" and x.get("read_only") and x.get("cap_drop") == ["ALL"]
              for x in (init, run, nginx)))
vols = lambda x: {v.split(":")[0] if isinstance(v, str) else v["source"] for v in x["volumes"]}
ok.append({"certs", "acme-webroot"} <= vols(init) and {"certs", "acme-webroot"} <= vols(run)
          and {"certs", "acme-webroot"} <= vols(nginx))
ok.append(all(":" in x["image"] and not x["image"].endswith(":latest") for x in s.values()))
print(" ".join("1" if o else "0" for o in ok))
PY
)
check_eq "manifests: compose orders init, nginx, run; shared PID and network; reload; non-root; volumes; tags" \
    "1 1 1 1 1 1 1 1" "$got"
# The compose services' certkeep variables and flags, as the binary sees them.
for svc in certkeep-init certkeep; do
    python3 - "$W/compose.yaml" "$svc" "$W" <<'PY'
import shlex, sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]
open(sys.argv[3] + "/" + sys.argv[2] + ".env", "w").write(
    "".join("%s=%s\n" % (k, shlex.quote(str(v))) for k, v in s["environment"].items()))
open(sys.argv[3] + "/" + sys.argv[2] + ".args", "w").write("\0".join(["status"] + s["command"][1:]))
PY
    mapfile -d '' -t a <"$W/$svc.args"
    check "manifests: compose service $svc's variables and flags are accepted" \
        certkeep_accepts "$W/$svc.env" "${a[@]}"
done
# A misspelled variable the same way must fail (the check above can fail).
printf 'CERTKEEP_DOMAINZ=example.com\n' >"$W/bad.env"
check_fails "manifests: a misspelled CERTKEEP_ variable is refused" \
    certkeep_accepts "$W/bad.env" status --config "$W/certkeep.yaml"
