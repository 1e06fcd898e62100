#!/usr/bin/env python3
"""Writes the bundled sample audit logs in samples/audit/ (deterministic: same output every run).

One hour of a small EKS cluster (23:30 to 00:30 UTC, so requests cross midnight) in the formats people
export, with known scenarios on top of background traffic:

  inventory-exporter   120 cluster-wide LISTs of pods + 30 of secrets without limit (12 + 3 throttled, 4 timeouts)
  pdb-guardian         40 LISTs of policy/v1beta1 PDBs (removed 1.25), 20 GETs of flowcontrol v1beta3 (removed 1.32)
  spark-operator       25 pod creates rejected by APF (429)
  node-drainer         8 evictions refused by a PodDisruptionBudget (429)
  flaky-informer       a watch of configmaps every 30 s (120 watches) and a relist after each
  ci deployer          45 forbidden (403) GETs of secrets in 2 minutes from 10.0.9.9
  system:anonymous     3 allowed /healthz, 2 allowed configmap reads, 6 forbidden secret reads
  tenant-operator      40 rolebinding creates, 24 of them 409 AlreadyExists
  alice (kubectl)      10 slow deployment creates spending 2.5 s in a mutating webhook
  release-bot (helm)   6 configmap creates failed by a fail-closed webhook whose backend is gone (500)

plus 4 malformed lines in the JSON lines file and one CloudWatch message cut short, three GKE cluster-management
entries and two AKS kube-apiserver log records (not Kubernetes API audit events: skipped and counted), and one
GKE entry delivered twice (counted once).
Run: python3 samples/make-samples.py   (from the repository root)
"""
import gzip
import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

R = random.Random(20261101)
T0 = datetime(2026, 11, 1, 23, 30, tzinfo=timezone.utc)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'audit')
KV = 'v1.30.4 (linux/amd64) kubernetes/abc1234'


def uid():
    return str(uuid.UUID(int=R.getrandbits(128), version=4))


def ts(t):
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%06dZ' % t.microsecond


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def user(name, groups=('system:authenticated',), pod=None):
    u = {'username': name, 'uid': uid(), 'groups': list(groups)}
    if pod:
        u['extra'] = {'authentication.kubernetes.io/pod-name': [pod], 'authentication.kubernetes.io/credential-id': ['JTI=' + uid()]}
    return u


def sa(ns, name, pod=True):
    return user('system:serviceaccount:%s:%s' % (ns, name),
                ('system:serviceaccounts', 'system:serviceaccounts:' + ns, 'system:authenticated'),
                pod='%s-%s' % (name, uid()[:5]) if pod else None)


def event(t, lat_ms, verb, uri, u, ua, ip, ref=None, code=200, reason=None, ann=None, stage='ResponseComplete',
          level='Metadata', req=None, resp=None, audit_id=None, imp=None):
    e = {'kind': 'Event', 'apiVersion': 'audit.k8s.io/v1', 'level': level, 'auditID': audit_id or uid(), 'stage': stage,
         'requestURI': uri, 'verb': verb, 'user': u}
    if imp:
        e['impersonatedUser'] = imp
    e['sourceIPs'] = [ip]
    if ua is not None:
        e['userAgent'] = ua
    if ref:
        e['objectRef'] = ref
    st = {'metadata': {}, 'code': code}
    if code >= 400:
        st['status'] = 'Failure'
        st['reason'] = reason or {403: 'Forbidden', 404: 'NotFound', 409: 'AlreadyExists', 429: 'TooManyRequests',
                                  500: 'InternalError', 504: 'Timeout'}.get(code, 'Unknown')
    e['responseStatus'] = st
    if req is not None:
        e['requestObject'] = req
    if resp is not None:
        e['responseObject'] = resp
    e['requestReceivedTimestamp'] = ts(t)
    e['stageTimestamp'] = ts(t + timedelta(milliseconds=lat_ms))
    a = {'authorization.k8s.io/decision': 'forbid' if code == 403 else 'allow',
         'authorization.k8s.io/reason': '' if code == 403 else 'RBAC: allowed by ClusterRoleBinding'}
    a.update(ann or {})
    e['annotations'] = a
    return e


def ref(resource, ns=None, name=None, group='', version='v1', sub=None):
    r = {'resource': resource}
    if ns:
        r['namespace'] = ns
    if name:
        r['name'] = name
    if group:
        r['apiGroup'] = group
    r['apiVersion'] = version
    if sub:
        r['subresource'] = sub
    return r


def base(group, version):
    return '/apis/%s/%s' % (group, version) if group else '/api/' + version


def lat(median):
    return max(0.3, R.lognormvariate(0, 0.5) * median)


def main_log():
    ev = []
    nodes = ['ip-10-0-%d-%d.us-west-2.compute.internal' % (i, 10 + i) for i in range(6)]
    # kubelets: lease renewals every 20 s, node status every 60 s, pod reads
    for i, n in enumerate(nodes):
        u = user('system:node:' + n, ('system:nodes', 'system:authenticated'))
        ua, ip = 'kubelet/' + KV, '10.0.%d.%d' % (i, 10 + i)
        for k in range(180):
            t = at(k * 20 + i * 1.7 + R.random())
            ev.append(event(t, lat(6), 'update', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s?timeout=10s' % n,
                            u, ua, ip, ref('leases', 'kube-node-lease', n, 'coordination.k8s.io')))
        for k in range(60):
            t = at(k * 60 + i * 3.1 + R.random())
            ev.append(event(t, lat(8), 'patch', '/api/v1/nodes/%s/status?timeout=10s' % n, u, ua, ip,
                            ref('nodes', None, n, sub='status'), level='Request',
                            req={'status': {'conditions': [{'type': 'Ready', 'lastHeartbeatTime': ts(t)[:19] + 'Z'}]}}))
        for k in range(20):
            t = at(R.uniform(0, 3600))
            ev.append(event(t, lat(2), 'get', '/api/v1/namespaces/shop/pods/web-%d' % k, u, ua, ip, ref('pods', 'shop', 'web-%d' % k)))
        # kubelet's informer on its own pods: paged, from the cache
        t = at(R.uniform(0, 60))
        ev.append(event(t, lat(10), 'list', '/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=500&resourceVersion=0' % n, u, ua, ip,
                        ref('pods')))
    # controller manager: leader election and controllers
    kcm = user('system:kube-controller-manager')
    for k in range(120):
        t = at(k * 30 + R.random())
        code = 500 if k in (40, 41, 42) else 200
        ev.append(event(t, lat(5) if code == 200 else 10000 + R.random() * 50, 'update',
                        '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager?timeout=5s',
                        kcm, 'kube-controller-manager/%s/leader-election' % KV, '172.16.0.5',
                        ref('leases', 'kube-system', 'kube-controller-manager', 'coordination.k8s.io'), code=code,
                        reason='InternalError' if code == 500 else None))
    for ctrl, verb, res, group, count in (('replicaset-controller', 'update', 'replicasets', 'apps', 100),
                                          ('deployment-controller', 'update', 'deployments', 'apps', 60),
                                          ('endpointslice-controller', 'update', 'endpointslices', 'discovery.k8s.io', 80)):
        u = sa('kube-system', ctrl, pod=False)
        for k in range(count):
            t = at(R.uniform(0, 3600))
            name = 'web-%d' % (k % 7)
            ev.append(event(t, lat(7), verb, '%s/namespaces/shop/%s/%s/status' % (base(group, 'v1'), res, name), u,
                            'kube-controller-manager/%s/system:serviceaccount:kube-system:%s' % (KV, ctrl), '172.16.0.5',
                            ref(res, 'shop', name, group, 'v1', 'status'), code=409 if k % 25 == 0 else 200,
                            reason='Conflict' if k % 25 == 0 else None))
    # scheduler binds pods
    sched = user('system:kube-scheduler')
    for k in range(50):
        t = at(R.uniform(0, 3600))
        ev.append(event(t, lat(4), 'create', '/api/v1/namespaces/shop/pods/web-%d/binding' % k, sched, 'kube-scheduler/%s/scheduler' % KV,
                        '172.16.0.5', ref('pods', 'shop', 'web-%d' % k, sub='binding'), code=201))
    # cert-manager: informers (paged cache LISTs) and watches that last 5-10 minutes
    cm = sa('cert-manager', 'cert-manager')
    cmua = 'cert-manager-controller/v1.15.3 (linux/amd64) cert-manager/4486c01f'
    for res in ('certificates', 'certificaterequests', 'issuers'):
        t = at(R.uniform(0, 30))
        ev.append(event(t, lat(15), 'list', '/apis/cert-manager.io/v1/%s?limit=500&resourceVersion=0' % res, cm, cmua, '10.0.64.12',
                        ref(res, group='cert-manager.io')))
        start = 40.0
        while start < 3600:
            dur = R.uniform(300, 600)
            aid = uid()
            t = at(start)
            uri = '/apis/cert-manager.io/v1/%s?allowWatchBookmarks=true&resourceVersion=48213%03d&timeoutSeconds=%d&watch=true' % (res, R.randrange(1000), int(dur))
            ev.append(event(t, lat(1), 'watch', uri, cm, cmua, '10.0.64.12', ref(res, group='cert-manager.io'), stage='ResponseStarted', audit_id=aid))
            if start + dur < 3600:
                ev.append(event(t, dur * 1000, 'watch', uri, cm, cmua, '10.0.64.12', ref(res, group='cert-manager.io'), audit_id=aid))
            # the last watch of each resource is still open when the log ends: only ResponseStarted
            start += dur + R.uniform(0.5, 2)
    # argocd: paged consistent LISTs, one continued
    ac = sa('argocd', 'argocd-application-controller')
    acua = 'argocd-application-controller/v2.11.7+e4a0246'
    for k in range(12):
        t = at(k * 300 + 5)
        ev.append(event(t, lat(120), 'list', '/apis/apps/v1/deployments?limit=500', ac, acua, '10.0.64.20', ref('deployments', group='apps')))
        ev.append(event(t + timedelta(seconds=1), lat(90), 'list', '/apis/apps/v1/deployments?continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDgyMTMwMDB9&limit=500',
                        ac, acua, '10.0.64.20', ref('deployments', group='apps')))
    # bad client 1: unpaginated cluster-wide LISTs of pods and secrets
    inv = sa('monitoring', 'inventory-exporter')
    invua = 'OpenAPI-Generator/29.0.0/python'
    for k in range(120):
        t = at(k * 30 + R.random() * 5)
        code = 429 if k % 10 == 3 else 504 if k in (50, 51, 52, 53) else 200
        ms = R.uniform(50, 300) if code == 429 else 60000 + R.random() * 30 if code == 504 else lat(1400)
        ann = None
        if code == 200 and ms > 500:
            ann = {'apiserver.latency.k8s.io/etcd': '%.6fms' % (ms * 0.55), 'apiserver.latency.k8s.io/serialize-response-object': '%.6fms' % (ms * 0.2),
                   'apiserver.latency.k8s.io/response-write': '%.6fms' % (ms * 0.05), 'apiserver.latency.k8s.io/apf-queue-wait': '%dµs' % R.randrange(20, 900),
                   'apiserver.latency.k8s.io/total': '%.6fms' % ms}
        ev.append(event(t, ms, 'list', '/api/v1/pods', inv, invua, '10.0.70.3', ref('pods'), code=code, ann=ann))
    for k in range(30):
        t = at(k * 120 + 7 + R.random() * 5)
        code = 429 if k % 10 == 5 else 200
        ev.append(event(t, R.uniform(50, 300) if code == 429 else lat(900), 'list', '/api/v1/secrets', inv, invua, '10.0.70.3', ref('secrets'), code=code))
    # old client on deprecated APIs
    pg = sa('platform-tools', 'pdb-guardian')
    pgua = 'pdb-guardian/v0.2.1 (linux/amd64) kubernetes/$Format'
    for k in range(40):
        t = at(k * 90 + R.random() * 10)
        ev.append(event(t, lat(40), 'list', '/apis/policy/v1beta1/poddisruptionbudgets?limit=500', pg, pgua, '10.0.71.4',
                        ref('poddisruptionbudgets', group='policy', version='v1beta1'),
                        ann={'k8s.io/deprecated': 'true', 'k8s.io/removed-release': '1.25'}))
    for k in range(20):
        t = at(k * 180 + R.random() * 10)
        ev.append(event(t, lat(3), 'get', '/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas/workload-low', pg, pgua, '10.0.71.4',
                        ref('flowschemas', None, 'workload-low', 'flowcontrol.apiserver.k8s.io', 'v1beta3'),
                        ann={'k8s.io/deprecated': 'true', 'k8s.io/removed-release': '1.32'}))
    # APF throttling of a batch operator
    so = sa('spark', 'spark-operator')
    for k in range(60):
        t = at(1800 + k * 2 + R.random())
        code = 429 if k % 12 < 5 else 201
        ev.append(event(t, R.uniform(30, 200) if code == 429 else lat(12), 'create', '/api/v1/namespaces/spark/pods', so,
                        'spark-operator/v1.1.27 (linux/amd64) kubernetes/$Format', '10.0.72.9', ref('pods', 'spark'), code=code))
    # a drain blocked by a PodDisruptionBudget
    dr = user('arn:aws:sts::111122223333:assumed-role/PlatformAdmin/node-drainer')
    for k in range(8):
        t = at(2400 + k * 5)
        ev.append(event(t, lat(5), 'create', '/api/v1/namespaces/shop/pods/db-0/eviction', dr, 'kubectl/v1.30.2 (linux/amd64) kubernetes/3968350',
                        '203.0.113.40', ref('pods', 'shop', 'db-0', sub='eviction'), code=429,
                        reason='TooManyRequests'))
    # informer relist storm: a watch every 30 s that ends after seconds, then a relist
    fl = sa('tools', 'flaky')
    flua = 'flaky-informer/v0.3.0 (linux/amd64) kubernetes/$Format'
    for k in range(120):
        t = at(k * 30 + 2)
        aid = uid()
        uri = '/api/v1/configmaps?allowWatchBookmarks=true&resourceVersion=4821%04d&timeoutSeconds=540&watch=true' % k
        dur = R.uniform(2000, 20000)
        ev.append(event(t, 1, 'watch', uri, fl, flua, '10.0.73.2', ref('configmaps'), stage='ResponseStarted', audit_id=aid))
        ev.append(event(t, dur, 'watch', uri, fl, flua, '10.0.73.2', ref('configmaps'), audit_id=aid))
        ev.append(event(t + timedelta(milliseconds=dur + 50), lat(30), 'list', '/api/v1/configmaps?limit=500&resourceVersion=0', fl, flua,
                        '10.0.73.2', ref('configmaps')))
    # forbidden burst
    ci = sa('ci', 'deployer', pod=False)
    for k in range(45):
        t = at(3000 + k * 2.5)
        ev.append(event(t, lat(1), 'get', '/api/v1/namespaces/prod/secrets/db-password-%d' % (k % 5), ci, 'Go-http-client/2.0', '10.0.9.9',
                        ref('secrets', 'prod', 'db-password-%d' % (k % 5)), code=403))
    # anonymous requests
    anon = user('system:anonymous', ('system:unauthenticated',))
    for k in range(3):
        ev.append(event(at(600 + k * 600), lat(1), 'get', '/healthz', anon, 'curl/8.5.0', '198.51.100.7'))
    for k in range(2):
        ev.append(event(at(1200 + k * 30), lat(2), 'get', '/api/v1/namespaces/kube-system/configmaps/cluster-info', anon, 'curl/8.5.0',
                        '198.51.100.7', ref('configmaps', 'kube-system', 'cluster-info')))
    for k in range(6):
        ev.append(event(at(1300 + k * 20), lat(1), 'list', '/api/v1/secrets', anon, 'curl/8.5.0', '198.51.100.7', ref('secrets'), code=403))
    # an operator creating objects that already exist
    to = sa('tenant-system', 'tenant-operator')
    for k in range(40):
        t = at(k * 90 + 11)
        code = 409 if k % 5 < 3 else 201
        ev.append(event(t, lat(6), 'create', '/apis/rbac.authorization.k8s.io/v1/namespaces/team-%d/rolebindings' % (k % 8), to,
                        'tenant-operator/v1.4.0 (linux/amd64) kubernetes/$Format', '10.0.74.5',
                        ref('rolebindings', 'team-%d' % (k % 8), 'team-edit', 'rbac.authorization.k8s.io'), code=code))
    # slow creates behind a mutating webhook, with the latency breakdown; kubectl with impersonation
    al = user('arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice')
    for k in range(10):
        t = at(900 + k * 60)
        ms = 2600 + R.random() * 400
        dep = {'kind': 'Deployment', 'apiVersion': 'apps/v1', 'metadata': {'name': 'api-%d' % k, 'namespace': 'shop'},
               'spec': {'replicas': 2, 'template': {'spec': {'containers': [{'name': 'api', 'image': 'api:1.%d' % k}]}}}}
        ev.append(event(t, ms, 'create', '/apis/apps/v1/namespaces/shop/deployments?fieldManager=kubectl-create&fieldValidation=Strict', al,
                        'kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350', '203.0.113.10', ref('deployments', 'shop', 'api-%d' % k, 'apps'),
                        code=201, level='RequestResponse', req=dep, resp=dep,
                        ann={'apiserver.latency.k8s.io/mutating-webhook': '2.5s', 'apiserver.latency.k8s.io/etcd': '%.3fms' % 4.2,
                             'apiserver.latency.k8s.io/validating-webhook': '120.5ms', 'apiserver.latency.k8s.io/apf-queue-wait': '780ns',
                             'mutation.webhook.admission.k8s.io/round_0_index_0': '{"configuration":"sidecar-injector","webhook":"inject.example.com","mutated":true}'}))
    for k in range(5):
        ev.append(event(at(1000 + k * 40), lat(20), 'list', '/apis/apps/v1/namespaces/payments/deployments?limit=500', al,
                        'kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350', '203.0.113.10', ref('deployments', 'payments', group='apps'),
                        imp={'username': 'system:serviceaccount:payments:deployer', 'groups': ['system:serviceaccounts']}))
    # a fail-closed validating webhook whose backend is gone for two minutes: helm's configmap creates fail
    # (own random numbers, so the rest of the samples stay as they were)
    W = random.Random(44)
    helm = {'username': 'system:serviceaccount:shop:release-bot', 'uid': str(uuid.UUID(int=W.getrandbits(128), version=4)),
            'groups': ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated']}
    for k in range(6):
        e = event(at(1500 + k * 20), 3 + W.random(), 'create', '/api/v1/namespaces/shop/configmaps?fieldManager=helm', helm,
                  'Helm/3.16.2', '10.0.75.9', ref('configmaps', 'shop', 'web-config-%d' % k), code=500,
                  audit_id=str(uuid.UUID(int=W.getrandbits(128), version=4)))
        e['responseStatus']['message'] = ('Internal error occurred: failed calling webhook "validate.policy-agent.example.com": failed to call '
                                          'webhook: Post "https://policy-agent.policy-agent.svc:443/validate?timeout=30s": dial tcp '
                                          '10.100.3.4:443: connect: connection refused')
        ev.append(e)
    # RequestReceived stage events (a policy that does not omit the stage) for five of the requests above
    for e in R.sample([e for e in ev if e['stage'] == 'ResponseComplete' and e['verb'] == 'get'], 5):
        rr = dict(e, stage='RequestReceived')
        rr.pop('responseStatus', None)
        rr['stageTimestamp'] = rr['requestReceivedTimestamp']
        ev.append(rr)
    ev.sort(key=lambda e: (e['stageTimestamp'], e['auditID']))
    return ev


def write_main(ev):
    lines = []
    for e in ev:
        # kube-apiserver escapes & < > as Go's encoding/json does
        lines.append(json.dumps(e, separators=(',', ':'), ensure_ascii=False).replace('&', '\\u0026').encode())
    bad = [b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5a4b0c1e-0000-4000-8000-00000000dead","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"li',
           b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5a4b0c1e-0000-4000-8000-00000000beef","stage":"ResponseComplete","requestURI":"/api/v1/nodes","verb":"get","userAgent":"bad\xff\xfeagent","requestReceivedTimestamp":"2026-11-01T23:40:00.000000Z","stageTimestamp":"2026-11-01T23:40:00.001000Z"}',
           b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5a4b0c1e-0000-4000-8000-00000000cafe","stage":"ResponseComplete","requestURI":"/api/v1/nodes","requestReceivedTimestamp":"2026-11-01T23:41:00.000000Z","stageTimestamp":"2026-11-01T23:41:00.001000Z"}',
           b'I1101 23:42:00.000000       1 trace.go:236] this line is a klog line, not an audit event']
    for i, b in enumerate(bad):
        lines.insert(200 + i * 500, b)
    with open(os.path.join(OUT, 'eks-apiserver-audit.jsonl'), 'wb') as f:
        f.write(b'\n'.join(lines) + b'\n')


def small_cluster(prefix, n, t0):
    """Background events of another cluster for the export-format samples."""
    ev = []
    for k in range(n):
        t = t0 + timedelta(seconds=k * 7 + R.random())
        node = '%s-node-%d' % (prefix, k % 3)
        ev.append(event(t, lat(5), 'update', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/' + node,
                        user('system:node:' + node, ('system:nodes', 'system:authenticated')), 'kubelet/' + KV, '10.1.0.%d' % (k % 3),
                        ref('leases', 'kube-node-lease', node, 'coordination.k8s.io')))
    return ev


def write_exports():
    # `aws logs filter-log-events --log-group-name /aws/eks/demo/cluster` output
    ev = small_cluster('cw', 70, at(100))
    cron = sa('batch', 'report-runner')
    for k in range(10):
        ev.append(event(at(200 + k * 60), lat(8), 'list', '/apis/batch/v1beta1/namespaces/batch/cronjobs?limit=500', cron,
                        'report-runner/v2.0.1', '10.1.4.4', ref('cronjobs', 'batch', group='batch', version='v1beta1'),
                        ann={'k8s.io/deprecated': 'true', 'k8s.io/removed-release': '1.25'}))
    events = []
    for i, e in enumerate(ev):
        msg = json.dumps(e, separators=(',', ':'))
        events.append({'logStreamName': 'kube-apiserver-audit-%032x' % (i % 2 + 0xabc), 'timestamp': 1793576000000 + i,
                       'message': msg, 'ingestionTime': 1793576000500 + i, 'eventId': '%056d' % (37000000000000 + i)})
    # one event over CloudWatch's size limit, cut short
    big = event(at(900), 3, 'update', '/api/v1/namespaces/batch/configmaps/huge', cron, 'report-runner/v2.0.1', '10.1.4.4',
                ref('configmaps', 'batch', 'huge'), level='Request', req={'data': {'blob': 'x' * 3000}})
    events.append({'logStreamName': 'kube-apiserver-audit-%032x' % 0xabc, 'timestamp': 1793576999000,
                   'message': json.dumps(big, separators=(',', ':'))[:2048], 'ingestionTime': 1793576999500, 'eventId': '%056d' % 37000000009999})
    with open(os.path.join(OUT, 'cloudwatch-filter-log-events.json'), 'w') as f:
        json.dump({'events': events, 'searchedLogStreams': [{'logStreamName': 'kube-apiserver-audit-%032x' % (0xabc + i), 'searchedCompletely': True}
                                                           for i in range(2)]}, f, indent=4)
        f.write('\n')
    # CloudWatch Logs export to S3: gzip, `<timestamp> <message>` per line
    ev = small_cluster('s3', 60, at(300))
    with gzip.GzipFile(os.path.join(OUT, 'cloudwatch-s3-export.log.gz'), 'wb', mtime=0) as f:
        for e in ev:
            f.write(('%s %s\n' % (e['stageTimestamp'][:23] + 'Z', json.dumps(e, separators=(',', ':')))).encode())
    # GKE Cloud Audit Logs (gcloud logging read --format=json writes a JSON array; exports are JSON lines)
    lines = []
    for k in range(40):
        t = at(400 + k * 20)
        who = 'system:serviceaccount:analytics:etl' if k % 4 else 'dev@example.com'
        method, rn, code = ('io.k8s.core.v1.pods.list', 'core/v1/namespaces/analytics/pods', 0) if k % 4 else \
            ('io.k8s.batch.v1beta1.cronjobs.get', 'batch/v1beta1/namespaces/analytics/cronjobs/nightly', 0)
        if k % 10 == 9:
            code = 8
        labels = {'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'access granted by IAM permissions.'}
        if 'v1beta1' in rn:
            labels.update({'k8s.io/deprecated': 'true', 'k8s.io/removed-release': '1.25'})
        lines.append({'protoPayload': {'@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
                                       'authenticationInfo': {'principalEmail': who},
                                       'authorizationInfo': [{'granted': True, 'permission': method, 'resource': rn}],
                                       'methodName': method, 'requestMetadata': {'callerIp': '10.8.0.%d' % (k % 4 + 2),
                                                                                'callerSuppliedUserAgent': 'etl-job/1.2.0 (linux/amd64)' if k % 4 else 'kubectl/v1.31.0 (linux/amd64) kubernetes/9d1c1c5'},
                                       'resourceName': rn, 'serviceName': 'k8s.io', 'status': {'code': code, 'message': 'Too many requests' if code else ''}},
                      'insertId': uid(), 'resource': {'type': 'k8s_cluster', 'labels': {'cluster_name': 'gke-demo', 'location': 'europe-west1', 'project_id': 'demo'}},
                      'timestamp': ts(t), 'severity': 'INFO', 'logName': 'projects/demo/logs/cloudaudit.googleapis.com%2Fdata_access',
                      'operation': {'id': uid(), 'producer': 'k8s.io', 'first': True, 'last': True},
                      'receiveTimestamp': ts(t + timedelta(seconds=1)), 'labels': labels})
    # a Cloud Logging export holds other services' entries too: cluster management by Terraform
    # (serviceName container.googleapis.com) is not a Kubernetes API request (no random numbers drawn
    # here, so the other files stay as they were)
    for k, (method, rn) in enumerate([
            ('google.container.v1.ClusterManager.CreateCluster', 'projects/demo/locations/europe-west1/clusters/gke-demo'),
            ('google.container.v1.ClusterManager.CreateNodePool', 'projects/demo/locations/europe-west1/clusters/gke-demo/nodePools/pool-2'),
            ('google.container.v1.ClusterManager.DeleteNodePool', 'projects/demo/locations/europe-west1/clusters/gke-demo/nodePools/pool-1')]):
        t = at(450 + k * 60)
        lines.append({'protoPayload': {'@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
                                       'authenticationInfo': {'principalEmail': 'terraform@demo.iam.gserviceaccount.com'},
                                       'methodName': method, 'requestMetadata': {'callerIp': '203.0.113.40',
                                                                                'callerSuppliedUserAgent': 'Terraform/1.9.5 terraform-provider-google/6.2.0'},
                                       'resourceName': rn, 'serviceName': 'container.googleapis.com', 'status': {}},
                      'insertId': 'mgmt-%d' % k, 'resource': {'type': 'gke_cluster', 'labels': {'cluster_name': 'gke-demo', 'location': 'europe-west1', 'project_id': 'demo'}},
                      'timestamp': ts(t), 'severity': 'NOTICE', 'logName': 'projects/demo/logs/cloudaudit.googleapis.com%2Factivity',
                      'operation': {'id': 'operation-%d' % k, 'producer': 'container.googleapis.com', 'first': True, 'last': True}})
    # log shippers deliver at least once: the same entry twice
    lines.append(lines[5])
    with open(os.path.join(OUT, 'gke-cloud-audit.jsonl'), 'w') as f:
        for l in lines:
            f.write(json.dumps(l, separators=(',', ':')) + '\n')
    # AKS diagnostic settings to a storage account: {"records": [...]}, properties.log a string or an object
    ev = small_cluster('aks', 30, at(500))
    recs = []
    for i, e in enumerate(ev):
        log = json.dumps(e, separators=(',', ':')) if i % 2 else e
        recs.append({'time': e['stageTimestamp'], 'resourceId': '/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-DEMO',
                     'category': 'kube-audit-admin' if i % 3 else 'kube-audit', 'operationName': 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
                     'properties': {'log': log, 'stream': 'stdout', 'pod': 'kube-apiserver-7d9c-%d' % (i % 2)}})
    # the same diagnostic setting ships the API server's own log (category kube-apiserver): not audit events
    for k in range(2):
        recs.append({'time': ts(at(520 + k)), 'resourceId': recs[0]['resourceId'], 'category': 'kube-apiserver',
                     'operationName': 'Microsoft.ContainerService/managedClusters/diagnosticLogs/Read',
                     'properties': {'log': 'I1101 23:38:4%d.000000       1 controller.go:615] quota admission added evaluator for: leases' % k,
                                    'stream': 'stderr', 'pod': 'kube-apiserver-7d9c-0'}})
    with open(os.path.join(OUT, 'aks-diagnostics.json'), 'w') as f:
        json.dump({'records': recs}, f, indent=2)
        f.write('\n')
    # an old cluster's audit log as an EventList of audit.k8s.io/v1beta1 events (kubectl-style, pretty-printed)
    items = []
    for e in small_cluster('old', 20, at(700)):
        e = dict(e, apiVersion='audit.k8s.io/v1beta1', timestamp=e['stageTimestamp'], metadata={'creationTimestamp': e['stageTimestamp']})
        items.append(e)
    with open(os.path.join(OUT, 'eventlist-v1beta1.json'), 'w') as f:
        json.dump({'kind': 'EventList', 'apiVersion': 'audit.k8s.io/v1beta1', 'metadata': {}, 'items': items}, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    write_main(main_log())
    write_exports()
