/**
 * What notebook code can find grants it nothing. A kernel runs as the
 * notebook user, as Jupyter does, so it can read Jupyter's files, its
 * runtime folder and whatever /proc shows of that user's processes. It
 * gathers every token-like string there and in its own environment, and
 * tries each on the sidecar's API and on Jupyter's API through the front
 * door; it also signs a Jupyter login cookie with the cookie secret it can
 * read. Only the kernel-scoped token works, and only for leases and status.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dirsForUser, ensureAccount, NEEDS_ROOT } from '../support/notebookUser';
import { concreteRoute, servedRoutes } from '../support/routes';
import { fetchJson, runInNewKernel, Sidecar, startSidecar, TempDirs } from '../support/sidecar';

const USER = 'gpuws-notebook';
// Made at run time: a constant would sit in every copy of this file (tsx keeps compiled ones under /tmp).
const OPERATOR_TOKEN = `op-${randomBytes(16).toString('hex')}`;

/** Python run in the kernel: every token-like string it can find, as JSON. */
const HARVEST = String.raw`
import json, os, re
found = set()
pattern = re.compile(r'[A-Za-z0-9_.~-]{20,200}')
def take(text):
    for m in pattern.findall(text):
        found.add(m)
for value in os.environ.values():
    take(value)
def read(path, limit=262144):
    try:
        with open(path, 'rb') as f:
            take(f.read(limit).decode('latin1'))
    except Exception:
        pass
roots = [os.path.expanduser('~'), '/tmp']
try:
    from jupyter_core.paths import jupyter_runtime_dir
    roots.append(jupyter_runtime_dir())
except Exception:
    pass
for root in roots:
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath.count(os.sep) - root.count(os.sep) > 6:
            dirnames[:] = []
        for name in filenames:
            read(os.path.join(dirpath, name))
for pid in os.listdir('/proc'):
    if pid.isdigit():
        for part in ('environ', 'cmdline'):
            read('/proc/%s/%s' % (pid, part))
print(json.dumps(sorted(found)))
`;

/** Python run in the kernel: signs a Jupyter login cookie with every cookie secret it can read, as tornado would. */
const FORGE = String.raw`
import glob, json, os
from tornado.web import create_signed_value
from jupyter_server.auth.identity import IdentityProvider
host = os.environ['GPU_WORKSPACE_URL'].split('/')[2]
name = IdentityProvider().get_cookie_name(type('H', (), {'request': type('R', (), {'host': host})()})())
user = json.dumps({'username': 'forger', 'name': 'forger', 'display_name': 'forger', 'initials': 'F', 'color': None, 'avatar_url': None})
cookies = []
for path in glob.glob('/tmp/gpu-workspace-jupyter-files-*/cookie_secret') + glob.glob(os.path.expanduser('~/.local/share/jupyter/runtime/jupyter_cookie_secret')):
    try:
        secret = open(path, 'rb').read()
    except Exception:
        continue
    import hmac, hashlib
    key = hmac.new(secret, b'', hashlib.sha256).digest()
    cookies.append('%s=%s' % (name, create_signed_value(key, name, user).decode()))
print(json.dumps(cookies))
`;

function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

describe('what a kernel can find grants nothing beyond the kernel-scoped token', { skip: NEEDS_ROOT }, () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;
  let found: string[];

  before(async () => {
    ensureAccount(USER);
    dirs = dirsForUser();
    // A token of this run alone: other sidecars on the machine (other tests) must not be mistaken for a leak.
    sidecar = await startSidecar({ dirs, token: `kc-${randomBytes(16).toString('hex')}`, config: { jupyter: { user: USER }, operator: { token: OPERATOR_TOKEN } } });
    found = lastJson<string[]>(await runInNewKernel(sidecar, HARVEST));
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  test("the workspace token and the operator's are nowhere a kernel can look; its own token is in its environment", async () => {
    assert.ok(found.length > 10, `the kernel found only ${found.length} strings: the harvest looked nowhere`);
    assert.ok(!found.some(s => s.includes(sidecar.token)), 'the workspace token is readable from the kernel');
    assert.ok(!found.some(s => s.includes(OPERATOR_TOKEN)), 'the operator token is readable from the kernel');
    const env = lastJson<Record<string, string | null>>(
      await runInNewKernel(sidecar, "import json, os; print(json.dumps({k: os.environ.get(k) for k in ['GPU_WORKSPACE_TOKEN', 'JUPYTER_TOKEN']}))")
    );
    assert.match(env.GPU_WORKSPACE_TOKEN ?? '', /^[0-9a-f]{48}$/);
    assert.equal(env.JUPYTER_TOKEN, null);
  });

  test('every string found is refused by the API and by Jupyter through the front door, except the kernel token on status', async () => {
    const kernelToken = lastJson<string>(await runInNewKernel(sidecar, "import json, os; print(json.dumps(os.environ['GPU_WORKSPACE_TOKEN']))"));
    const results: string[] = [];
    for (const candidate of found) {
      for (const [url, kind] of [
        [sidecar.apiUrl('usage'), 'api'],
        [sidecar.url('api/contents'), 'jupyter']
      ] as const) {
        for (const headers of [{ authorization: `token ${candidate}` }, {}] as Record<string, string>[]) {
          const target = Object.keys(headers).length ? url : `${url}?token=${encodeURIComponent(candidate)}`;
          const res = await fetch(target, { headers, signal: AbortSignal.timeout(30_000) });
          await res.arrayBuffer();
          if (res.status < 400) {
            results.push(`${kind} ${res.status} with ${candidate === kernelToken ? 'the kernel token' : candidate.slice(0, 12) + '…'}`);
          }
        }
      }
    }
    assert.deepEqual(results, []);
  });

  test('the kernel token holds leases and reads the status, and every other route refuses it', async () => {
    const kernelToken = lastJson<string>(await runInNewKernel(sidecar, "import json, os; print(json.dumps(os.environ['GPU_WORKSPACE_TOKEN']))"));
    const allowed = new Set(['GET /status', 'POST /leases', 'POST /leases/:id/heartbeat', 'DELETE /leases/:id', 'GET /health']);
    for (const { method, route } of servedRoutes()) {
      const res = await fetchJson(sidecar.apiUrl(concreteRoute(route)), {
        method,
        headers: { authorization: `token ${kernelToken}`, 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : '{}'
      });
      if (allowed.has(`${method} ${route}`)) {
        assert.notEqual(res.status, 403, `${method} ${route}: ${JSON.stringify(res.body)}`);
      } else {
        assert.equal(res.status, 403, `${method} ${route} let the kernel token through: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    const jupyter = await fetchJson(sidecar.url('api/contents'), { headers: { authorization: `token ${kernelToken}` } });
    assert.equal(jupyter.status, 403);
  });

  test('a Jupyter login cookie signed with the cookie secret the kernel can read is no login', async () => {
    const forged = lastJson<string[]>(await runInNewKernel(sidecar, FORGE));
    assert.ok(forged.length > 0, 'the kernel found no cookie secret to forge with: the test proves nothing');
    for (const cookie of forged) {
      const api = await fetchJson(sidecar.apiUrl('usage'), { headers: { cookie } });
      assert.equal(api.status, 401, JSON.stringify(api.body));
      const jupyter = await fetch(sidecar.url('api/contents'), { headers: { cookie }, signal: AbortSignal.timeout(30_000) });
      await jupyter.arrayBuffer();
      assert.equal(jupyter.status, 403, 'Jupyter took a cookie the front door did not check');
    }
  });
});
