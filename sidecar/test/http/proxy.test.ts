/**
 * The sidecar is the front door: Jupyter's REST API and kernel WebSockets
 * work through it exactly as they would against Jupyter itself.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchJson, Sidecar, startKernel, startSidecar, tokenHeader } from '../support/sidecar';
import { execute, openWebSocket } from '../support/kernel';

describe('Jupyter through the sidecar', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar();
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('lists the home folder with GET /api/contents', async () => {
    fs.writeFileSync(path.join(sidecar.dirs.home, 'already-here.txt'), 'hello\n');
    const res = await fetchJson<{ type: string; content: { name: string }[] }>(sidecar.url('api/contents'), {
      headers: tokenHeader(sidecar)
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'directory');
    assert.ok(
      res.body.content.some(entry => entry.name === 'already-here.txt'),
      `expected already-here.txt in ${JSON.stringify(res.body.content.map(e => e.name))}`
    );
  });

  test('saves a file with PUT /api/contents and reads it back', async () => {
    const put = await fetchJson(sidecar.url('api/contents/notes.txt'), {
      method: 'PUT',
      headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'file', format: 'text', content: 'written through the proxy\n' })
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));

    const get = await fetchJson<{ content: string }>(sidecar.url('api/contents/notes.txt?content=1&format=text&type=file'), {
      headers: tokenHeader(sidecar)
    });
    assert.equal(get.status, 200);
    assert.equal(get.body.content, 'written through the proxy\n');
    assert.equal(fs.readFileSync(path.join(sidecar.dirs.home, 'notes.txt'), 'utf8'), 'written through the proxy\n');
  });

  test('runs code on a kernel over its WebSocket and returns the printed output', async () => {
    const kernelId = await startKernel(sidecar);
    const wsUrl = sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws');
    const ws = await openWebSocket(wsUrl);
    try {
      const { stdout, reply } = await execute(ws, 'print(6*7)');
      assert.equal(reply.content.status, 'ok', JSON.stringify(reply.content));
      assert.equal(stdout.trim(), '42');
    } finally {
      ws.close();
      await fetch(sidecar.url(`api/kernels/${kernelId}`), { method: 'DELETE', headers: tokenHeader(sidecar) });
    }
  });
});
