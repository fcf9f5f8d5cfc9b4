#!/usr/bin/env node
// deploy_check.js REPO QUERY_FILE -- the deployment files under REPO/deploy, parsed (YAML
// by the `yaml` package, JSON by node) and held to what crease does:
//   kubernetes/  every document parses; kustomization lists files that exist; the
//                KEDA ScaledObject targets the chunk-worker Deployment, its postgresql
//                trigger's query is exactly QUERY_FILE's (crease's own
//                STORE_SQL_QUEUED_CHUNKS), 5 chunks per worker, out < 60 s, in < 300 s;
//                its TriggerAuthentication exists; every workload runs the one image,
//                probes /healthz and /readyz on the port its command listens on, is
//                scraped on that port, reads secrets that the example Secret has; the
//                chunk workers' grace period equals systemd's TimeoutStopSec; the
//                migration Job runs `migrate up`
//   ecs/         target tracking on QueuedChunksPerWorker in crease's namespace, target
//                5, cooldowns 60 s out / 300 s in, on the service the metric names
//   systemd/     (the lines systemd-analyze cannot judge) restart on failure, SIGTERM,
//                stop timeouts above the lease, the metrics port of each worker
// Prints one line per check; exits 1 at the first failure.
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const YAML = require('yaml');

const [repo, queryFile] = process.argv.slice(2);
const query = fs.readFileSync(queryFile, 'utf8').trim();
const dir = (d) => path.join(repo, 'deploy', d);
const ok = (m) => console.log(`ok: ${m}`);

function check(what, fn) {
  try {
    fn();
    ok(what);
  } catch (e) {
    console.log(`FAIL: ${what}: ${e.message}`);
    process.exit(1);
  }
}

// ---- kubernetes -------------------------------------------------------------------

const k8s = dir('kubernetes');
const docs = [];
check('every Kubernetes file parses as YAML', () => {
  for (const f of fs.readdirSync(k8s).filter((f) => /\.ya?ml$/.test(f))) {
    for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(k8s, f), 'utf8'))) {
      assert.deepStrictEqual(d.errors, [], `${f}: ${d.errors.join('; ')}`);
      const v = d.toJS();
      if (v !== null) docs.push({file: f, v});
    }
  }
  assert.ok(docs.length >= 9);
});
const find = (kind, name) => docs.find((d) => d.v.kind === kind && d.v.metadata && d.v.metadata.name === name);
const kust = docs.find((d) => d.v.kind === 'Kustomization');
check('kustomization.yaml lists files that exist (and not the example Secret)', () => {
  assert.ok(kust, 'no Kustomization');
  for (const r of kust.v.resources) assert.ok(fs.existsSync(path.join(k8s, r)), r);
  assert.ok(!kust.v.resources.includes('secret.example.yaml'));
});

const so = find('ScaledObject', 'crease-chunk-worker');
check('the ScaledObject scales the chunk-worker Deployment', () => {
  assert.ok(so, 'no ScaledObject crease-chunk-worker');
  assert.strictEqual(so.v.apiVersion, 'keda.sh/v1alpha1');
  const target = so.v.spec.scaleTargetRef.name;
  assert.ok(find('Deployment', target), `no Deployment ${target}`);
  assert.strictEqual(target, 'crease-chunk-worker');
});
const trig = so.v.spec.triggers;
check("its postgresql trigger's query is crease's own queued-chunk query", () => {
  assert.strictEqual(trig.length, 1);
  assert.strictEqual(trig[0].type, 'postgresql');
  assert.strictEqual(trig[0].metadata.query, query);
});
check('target 5 queued chunks per worker, active from the first one', () => {
  assert.strictEqual(trig[0].metadata.targetQueryValue, '5');
  assert.strictEqual(Number(trig[0].metadata.activationTargetQueryValue || 0), 0);
  assert.strictEqual(so.v.spec.minReplicaCount, 0);
  assert.ok(so.v.spec.maxReplicaCount >= 5);
});
check('its TriggerAuthentication exists and reads the connection from the Secret', () => {
  const ta = find('TriggerAuthentication', trig[0].authenticationRef.name);
  assert.ok(ta, 'no TriggerAuthentication');
  const ref = ta.v.spec.secretTargetRef.find((r) => r.parameter === 'connection');
  assert.ok(ref && ref.name === 'crease-secrets' && ref.key === 'database-url');
});
check('scale out within 60 s, in within 300 s', () => {
  const poll = so.v.spec.pollingInterval;
  const hpaSync = 15; // the HPA controller's default --horizontal-pod-autoscaler-sync-period
  const b = so.v.spec.advanced.horizontalPodAutoscalerConfig.behavior;
  assert.ok(poll + hpaSync + b.scaleUp.stabilizationWindowSeconds < 60, 'scale out');
  assert.ok(b.scaleDown.stabilizationWindowSeconds + poll + hpaSync < 300, 'scale in');
  assert.ok(so.v.spec.cooldownPeriod + poll < 300, 'to zero');
  assert.ok(b.scaleUp.policies.every((p) => p.periodSeconds < 60));
});

const secretKeys = Object.keys(find('Secret', 'crease-secrets').v.stringData);
const workloads = docs.filter((d) => ['Deployment', 'Job'].includes(d.v.kind));
check('every workload runs the one image and reads secrets the example Secret has', () => {
  const images = new Set();
  for (const w of workloads) {
    for (const c of w.v.spec.template.spec.containers) {
      images.add(c.image);
      for (const e of c.env || [])
        if (e.valueFrom && e.valueFrom.secretKeyRef) {
          assert.strictEqual(e.valueFrom.secretKeyRef.name, 'crease-secrets');
          assert.ok(secretKeys.includes(e.valueFrom.secretKeyRef.key), `${w.v.metadata.name}: ${e.valueFrom.secretKeyRef.key}`);
        }
      for (const e of c.envFrom || []) assert.ok(find('ConfigMap', e.configMapRef.name), e.configMapRef.name);
    }
  }
  assert.strictEqual(images.size, 1, [...images].join(' '));
});

// The port a container's command listens on: --port of serve, --metrics-port of workers.
function listenPort(c) {
  const a = c.args.map(String);
  const i = a.indexOf(a[0] === 'serve' ? '--port' : '--metrics-port');
  assert.ok(i > 0, `${c.name}: no port option in ${a.join(' ')}`);
  return Number(a[i + 1]);
}
check('each long-running workload probes /healthz and /readyz where it listens, and is scraped there', () => {
  for (const name of ['crease-serve', 'crease-chunk-worker', 'crease-analysis-worker']) {
    const d = find('Deployment', name);
    assert.ok(d, name);
    const c = d.v.spec.template.spec.containers[0];
    const port = listenPort(c);
    if (c.args[0] !== 'serve') {
      const a = c.args.map(String);
      assert.strictEqual(a[a.indexOf('--metrics-bind') + 1], '0.0.0.0', `${name}: --metrics-bind`);
    } else {
      assert.strictEqual(c.args[c.args.indexOf('--bind') + 1], '0.0.0.0', `${name}: --bind`);
    }
    const named = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
    const portOf = (p) => (typeof p === 'string' ? named[p] : p);
    assert.strictEqual(c.livenessProbe.httpGet.path, '/healthz', name);
    assert.strictEqual(c.readinessProbe.httpGet.path, '/readyz', name);
    assert.strictEqual(portOf(c.livenessProbe.httpGet.port), port, `${name}: liveness port`);
    assert.strictEqual(portOf(c.readinessProbe.httpGet.port), port, `${name}: readiness port`);
    const ann = d.v.spec.template.metadata.annotations;
    assert.strictEqual(Number(ann['prometheus.io/port']), port, `${name}: scrape port`);
    assert.strictEqual(ann['prometheus.io/path'], '/metrics');
  }
});
check('the Service sends to the API port', () => {
  const s = find('Service', 'crease-serve');
  const c = find('Deployment', 'crease-serve').v.spec.template.spec.containers[0];
  assert.ok((c.ports || []).some((p) => p.name === s.v.spec.ports[0].targetPort));
  assert.deepStrictEqual(s.v.spec.selector, find('Deployment', 'crease-serve').v.spec.selector.matchLabels);
});
check('the migration Job runs `crease migrate up` until it succeeds', () => {
  const j = find('Job', 'crease-migrate');
  assert.ok(j);
  assert.deepStrictEqual(j.v.spec.template.spec.containers[0].args, ['migrate', 'up']);
  assert.strictEqual(j.v.spec.template.spec.restartPolicy, 'OnFailure');
});

// ---- systemd (what systemd-analyze verify does not judge) ----------------------------

function unit(file) {
  const v = {};
  for (const line of fs.readFileSync(path.join(dir('systemd'), file), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) v[m[1]] = m[2];
  }
  return v;
}
const seconds = (s) => Number(/^(\d+)$/.exec(s)[1]);
check('systemd units: restart on failure, stop with SIGTERM, wait longer than a lease', () => {
  for (const f of ['crease-serve.service', 'crease-chunk-worker@.service', 'crease-analysis-worker.service']) {
    const u = unit(f);
    assert.strictEqual(u.Restart, 'on-failure', f);
    assert.strictEqual(u.KillSignal, 'SIGTERM', f);
    assert.ok(u.ExecStart.startsWith('/usr/local/bin/crease '), f);
    if (f !== 'crease-serve.service') assert.ok(seconds(u.TimeoutStopSec) > 60, `${f}: TimeoutStopSec`);
  }
  assert.ok(/--metrics-port %i\b/.test(unit('crease-chunk-worker@.service').ExecStart));
  assert.ok(/--metrics-port 9100\b/.test(unit('crease-analysis-worker.service').ExecStart));
});
check("the workers' grace periods are the same on systemd and Kubernetes", () => {
  const grace = (n) => find('Deployment', n).v.spec.template.spec.terminationGracePeriodSeconds;
  assert.strictEqual(grace('crease-chunk-worker'), seconds(unit('crease-chunk-worker@.service').TimeoutStopSec));
  assert.strictEqual(grace('crease-analysis-worker'), seconds(unit('crease-analysis-worker.service').TimeoutStopSec));
});

// ---- ECS -------------------------------------------------------------------------

check('ECS: target tracking on QueuedChunksPerWorker, target 5, out after 60 s, in after 300 s', () => {
  const p = JSON.parse(fs.readFileSync(path.join(dir('ecs'), 'scaling-policy.json'), 'utf8'));
  const t = JSON.parse(fs.readFileSync(path.join(dir('ecs'), 'scalable-target.json'), 'utf8'));
  const task = JSON.parse(fs.readFileSync(path.join(dir('ecs'), 'autoscale-metric-task.json'), 'utf8'));
  const c = p.TargetTrackingScalingPolicyConfiguration;
  assert.strictEqual(p.PolicyType, 'TargetTrackingScaling');
  assert.strictEqual(c.TargetValue, 5);
  assert.strictEqual(c.CustomizedMetricSpecification.MetricName, 'QueuedChunksPerWorker');
  assert.strictEqual(c.CustomizedMetricSpecification.Namespace, 'Cricksy/VideoAnalysis');
  assert.strictEqual(c.ScaleOutCooldown, 60);
  assert.strictEqual(c.ScaleInCooldown, 300);
  assert.strictEqual(p.ResourceId, t.ResourceId);
  // the task that publishes the metric names the same dimension the policy reads
  const cmd = task.containerDefinitions[0].command;
  const dim = c.CustomizedMetricSpecification.Dimensions[0];
  assert.strictEqual(cmd[0], 'autoscale-metric');
  assert.strictEqual(cmd[cmd.indexOf('--dimension') + 1], `${dim.Name}=${dim.Value}`);
  assert.ok(p.ResourceId.endsWith(`/${dim.Value}`), 'the dimension names the scaled service');
});
console.log('deploy files: all checks passed');
