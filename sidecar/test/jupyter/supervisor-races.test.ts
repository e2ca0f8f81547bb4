/**
 * The supervisor under a stop that comes in the middle of a restart, and its
 * graceful stop: checked against a stand-in Jupyter (a real process serving a
 * real Unix socket) so each race is exact and fast.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { JupyterSupervisor } from '../../src/jupyter/supervisor';
import { createLogger } from '../../src/log';
import { isRunning, SIDECAR_DIR, waitFor } from '../support/sidecar';

const FAKE_JUPYTER = path.join(SIDECAR_DIR, 'test', 'fixtures', 'bin', 'fake-jupyter');
const roots: string[] = [];
after(() => roots.forEach(r => fs.rmSync(r, { recursive: true, force: true })));

interface Harness {
  supervisor: JupyterSupervisor;
  /** The stand-in's own record: "start <pid>" and "sigterm <pid>" lines. */
  events(): string[];
  startedPids(): number[];
  logLines: string[];
}

function harness(options: { stopTimeoutMs?: number; startDelaySeconds?: number } = {}): Harness {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-sup-'));
  roots.push(root);
  const home = path.join(root, 'home');
  fs.mkdirSync(home);
  const eventsFile = path.join(root, 'events');
  const logLines: string[] = [];
  const supervisor = new JupyterSupervisor({
    command: [FAKE_JUPYTER, 'lab'],
    extraArgs: [],
    home,
    socketPath: path.join(root, 'jupyter.sock'),
    cookieSecretFile: path.join(root, 'cookie_secret'),
    tokenFile: path.join(root, 'jupyter_token'),
    deleteToTrash: false,
    baseUrl: '/',
    env: { ...process.env, FAKE_JUPYTER_LOG: eventsFile, FAKE_JUPYTER_START_DELAY: String(options.startDelaySeconds ?? 0) },
    runAs: null,
    startTimeoutMs: 20_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    backoffInitialMs: 100,
    backoffMaxMs: 1000,
    log: createLogger('debug', 'supervisor', line => logLines.push(line))
  });
  const events = (): string[] => (fs.existsSync(eventsFile) ? fs.readFileSync(eventsFile, 'utf8').trim().split('\n') : []);
  return {
    supervisor,
    events,
    startedPids: () => events().filter(e => e.startsWith('start ')).map(e => Number(e.split(' ')[1])),
    logLines
  };
}

test('a stop that comes while a restart is under way cuts the restart short and leaves no Jupyter running', async () => {
  const h = harness({ startDelaySeconds: 0.5 });
  await h.supervisor.start();
  const restart = h.supervisor.restart('test');
  await h.supervisor.stop();
  await assert.rejects(restart, (err: { code?: string }) => err.code === 'stopping');
  const alive = h.startedPids().filter(isRunning);
  assert.deepEqual(alive, [], `every Jupyter the supervisor started is gone: ${h.events().join(', ')}`);
  assert.equal(h.supervisor.state, 'stopped');
});

test('a stop that comes while the restarted Jupyter is starting stops that one too', async () => {
  const h = harness({ startDelaySeconds: 2 });
  await h.supervisor.start();
  const first = h.startedPids()[0];
  const restart = h.supervisor.restart('test');
  await waitFor('the restart to spawn a new Jupyter', () => (h.startedPids().some(p => p !== first) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  await h.supervisor.stop();
  await assert.rejects(restart, (err: { code?: string }) => err.code === 'stopping');
  assert.deepEqual(h.startedPids().filter(isRunning), [], h.events().join(', '));
});

test('once stopping, a restart is refused with "stopping" and nothing starts', async () => {
  const h = harness();
  await h.supervisor.start();
  await h.supervisor.stop();
  const starts = h.startedPids().length;
  await assert.rejects(h.supervisor.restart('late'), (err: { code?: string; status?: number }) => err.code === 'stopping' && err.status === 503);
  assert.throws(() => h.supervisor.requestRestart('late'), (err: { code?: string }) => err.code === 'stopping');
  assert.equal(h.startedPids().length, starts);
});

test('a graceful stop needs no credentials: Jupyter gets SIGTERM and the restart does not wait out the stop timeout', async () => {
  // The stand-in refuses POST /api/shutdown with 403, as jupyterhub-singleuser refuses the sidecar's token.
  const h = harness({ stopTimeoutMs: 60_000 });
  await h.supervisor.start();
  const first = h.startedPids()[0];
  await h.supervisor.restart('test');
  assert.ok(h.events().includes(`sigterm ${first}`), `the old Jupyter got SIGTERM: ${h.events().join(', ')}`);
  assert.equal(isRunning(first), false);
  assert.ok(!h.logLines.some(l => l.includes('did not stop in time')), h.logLines.join('\n'));
  await h.supervisor.stop();
});

test('the status counts each successful start as a generation and clears the last error', async () => {
  const h = harness();
  await h.supervisor.start();
  const before = h.supervisor.status();
  assert.equal(before.generation, 1);
  assert.equal(before.last_error, null);
  await h.supervisor.restart('test');
  assert.equal(h.supervisor.status().generation, 2);
  assert.equal(h.supervisor.status().state, 'running');
  await h.supervisor.stop();
});
