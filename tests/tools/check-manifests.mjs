// Offline schema and policy checks of Kubernetes manifests (tests/e2e/t_manifests.sh).
//   node check-manifests.mjs [--partial] FILE...   schema: kubernetes-models (types, enums,
//       required fields; skipped with --partial, for patches) and @kubernetes/client-node's
//       models (unknown or misspelled fields). One line per problem, exit 1 if any.
//   node check-manifests.mjs --policy FILE...      certkeep containers follow the rules below.
//   node check-manifests.mjs --certkeep FILE...    one JSON line per certkeep container:
//       {file, name, args, env} (env values from secretKeyRef become placeholders).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
// The generated models only: the package's index pulls in the HTTP client and jsonpath (node >= 20).
import * as k8s from '@kubernetes/client-node/dist/gen/models/all.js';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const mode = process.argv[2]?.startsWith('--') ? process.argv[2] : '--schema';
const files = process.argv.slice(mode === process.argv[2] ? 3 : 2);
const problems = [];
const say = (file, where, msg) => problems.push(`${file}: ${where}: ${msg}`);

function docs(file) {
  const out = [];
  for (const d of YAML.parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (d.errors.length) { say(file, 'yaml', d.errors[0].message); continue; }
    const o = d.toJS();
    if (o) out.push(o);
  }
  return out;
}

const modelsGroup = (apiVersion) =>
  apiVersion.includes('/') ? `kubernetes-models/${apiVersion}` : `kubernetes-models/${apiVersion}`;

function schemaCheck(file, o, where, partial) {
  if (!o.apiVersion || !o.kind) return say(file, where, 'no apiVersion or kind');
  if (o.kind === 'Kustomization' || o.kind === 'Component') return;  // rendered, then checked
  const ver = o.apiVersion.split('/').pop();
  const cls = k8s[ver[0].toUpperCase() + ver.slice(1) + o.kind];
  if (!cls?.attributeTypeMap) return say(file, where, `unknown kind ${o.apiVersion} ${o.kind}`);
  unknownFields(file, where, o, cls.name, '');
  if (partial) return;
  let Model;
  try { Model = require(modelsGroup(o.apiVersion))[o.kind]; } catch { Model = undefined; }
  if (!Model) return say(file, where, `kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  try { new Model(o).validate(); } catch (e) {
    for (const x of e.errors ?? [{ instancePath: '', message: e.message }]) {
      const extra = x.params?.allowedValues ? ` (${x.params.allowedValues.join(', ')})`
        : x.params?.missingProperty ? ` '${x.params.missingProperty}'` : '';
      say(file, where, `${x.instancePath.replace(/^\//, '').replaceAll('/', '.') || '.'}: ${x.message}${extra}`);
    }
  }
}

// Walks the object along client-node's generated type map: a key the type does not
// declare is a misspelled or unknown field (the API server would drop or refuse it).
function unknownFields(file, where, val, type, path) {
  if (val === null || val === undefined) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) { if (Array.isArray(val)) val.forEach((v, i) => unknownFields(file, where, v, m[1], `${path}[${i}]`)); return; }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) { if (typeof val === 'object') for (const [k, v] of Object.entries(val)) unknownFields(file, where, v, m[1], `${path}.${k}`); return; }
  const cls = k8s[type];
  if (!cls?.attributeTypeMap || typeof val !== 'object' || Array.isArray(val)) return;
  const known = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(val)) {
    const p = path ? `${path}.${k}` : k;
    if (!known.has(k)) {
      const near = [...known.keys()].find((n) => n.toLowerCase() === k.toLowerCase() || dist(n, k) <= 2);
      say(file, where, `${p}: unknown field "${k}" in ${type}${near ? ` (did you mean "${near}"?)` : ''}`);
    } else unknownFields(file, where, v, known.get(k), p);
  }
}

function dist(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

function podSpecs(o) {
  if (o.kind === 'Pod') return [o.spec];
  if (o.spec?.template?.spec) return [o.spec.template.spec];
  if (o.spec?.jobTemplate?.spec?.template?.spec) return [o.spec.jobTemplate.spec.template.spec];
  return [];
}
const containersOf = (spec) => [...(spec.initContainers ?? []).map((c) => [c, true]),
  ...(spec.containers ?? []).map((c) => [c, false])];
const isCertkeep = (c) => /(^|\/)certkeep(:|@|$)/.test(c.image ?? '');

function policy(file, o, where) {
  for (const s of JSON.stringify(o).matchAll(/"image":"([^"]*)"/g)) {
    const tag = s[1].includes('@') ? 'digest' : (s[1].split('/').pop().split(':')[1] ?? '');
    if (tag === '' || tag === 'latest') say(file, where, `image ${s[1]}: pin a tag (not latest, not none)`);
  }
  for (const spec of podSpecs(o)) {
    if (!(spec.securityContext?.sysctls ?? []).some((x) => x.name === 'net.ipv4.ip_unprivileged_port_start' && x.value === '0'))
      say(file, where, 'pod: no sysctl net.ipv4.ip_unprivileged_port_start=0 (http-01 on port 80 as non-root)');
    const certkeeps = containersOf(spec).filter(([c]) => isCertkeep(c));
    if (!certkeeps.length) say(file, where, 'pod: no certkeep container');
    // An unprivileged certkeep may signal only its own user's processes (reload.process).
    if (spec.shareProcessNamespace)
      for (const [c] of containersOf(spec).filter(([c]) => !isCertkeep(c))) {
        const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
        if (uid !== 65532) say(file, `container ${c.name}`, `runs as ${uid ?? 'the image user'}: certkeep (65532) cannot signal it`);
      }
    for (const [c, init] of certkeeps) {
      const w = `container ${c.name}`;
      const sc = c.securityContext ?? {};
      const want = { runAsNonRoot: true, runAsUser: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false };
      for (const [k, v] of Object.entries(want)) if (sc[k] !== v) say(file, w, `securityContext.${k} must be ${v}`);
      if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') say(file, w, 'securityContext.capabilities.drop must be [ALL]');
      if (sc.capabilities?.add?.length) say(file, w, 'securityContext.capabilities.add must be empty');
      if ((sc.seccompProfile ?? spec.securityContext?.seccompProfile)?.type !== 'RuntimeDefault')
        say(file, w, 'seccompProfile must be RuntimeDefault');
      if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) say(file, w, 'resources: memory request and limit');
      const runs = (c.args ?? [])[0] === 'run';
      if (runs) {
        for (const p of ['livenessProbe', 'readinessProbe'])
          if (!c[p]?.httpGet) say(file, w, `${p} (httpGet) missing`);
        if (c.livenessProbe?.httpGet && c.livenessProbe.httpGet.path !== '/healthz') say(file, w, 'livenessProbe must GET /healthz');
        if (c.readinessProbe?.httpGet && c.readinessProbe.httpGet.path !== '/readyz') say(file, w, 'readinessProbe must GET /readyz');
        if (init && c.restartPolicy === 'Always' && c.startupProbe?.httpGet?.path !== '/readyz')
          say(file, w, 'native sidecar: startupProbe must GET /readyz (the app waits for a certificate)');
        if (init && c.restartPolicy !== 'Always') say(file, w, '"run" as an init container needs restartPolicy Always');
      }
      if (c.envFrom?.length) say(file, w, 'envFrom: name each variable (secrets only via secretKeyRef)');
      for (const e of c.env ?? []) {
        if (/KEY|SECRET|TOKEN|PASSWORD/.test(e.name) && !e.valueFrom?.secretKeyRef)
          say(file, w, `env ${e.name}: a secret comes only from secretKeyRef`);
      }
    }
  }
}

function certkeepContainers(file, o) {
  for (const spec of podSpecs(o))
    for (const [c] of containersOf(spec).filter(([c]) => isCertkeep(c)))
      console.log(JSON.stringify({ file, name: c.name, args: c.args ?? [], command: c.command ?? [],
        env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom ? 'from-ref' : '')])) }));
}

for (const file of files) {
  docs(file).forEach((o, i) => {
    const where = `doc ${i + 1} (${o.kind ?? '?'}/${o.metadata?.name ?? '?'})`;
    if (mode === '--policy') { if (podSpecs(o).length) policy(file, o, where); }
    else if (mode === '--certkeep') certkeepContainers(file, o);
    else schemaCheck(file, o, where, mode === '--partial');
  });
}
for (const p of problems) console.log(p);
process.exit(problems.length ? 1 : 0);
