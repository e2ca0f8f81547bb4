/**
 * The sidecar is the front door: Jupyter's REST API and kernel WebSockets
 * work through it exactly as they would against Jupyter itself.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { fetchJson, Sidecar, startKernel, startSidecar, tokenHeader } from './helpers';

interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

/** A Jupyter message as the server's JSON WebSocket protocol carries it (protocol v5.3). */
interface JupyterMessage {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  channel: string;
  buffers?: unknown[];
}

interface Execution {
  stdout: string;
  reply: JupyterMessage;
}

/**
 * Sends `code` as an execute_request on the shell channel and collects the
 * stdout stream from iopub until the execute_reply has come and the kernel
 * went idle again.
 */
function execute(ws: WebSocket, code: string, timeoutMs = 60_000): Promise<Execution> {
  const session = randomUUID();
  const msgId = randomUUID();
  const request: JupyterMessage = {
    header: { msg_id: msgId, msg_type: 'execute_request', session, username: 'test', date: new Date().toISOString(), version: '5.3' },
    parent_header: {},
    metadata: {},
    content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    channel: 'shell',
    buffers: []
  };
  return new Promise((resolve, reject) => {
    let stdout = '';
    let reply: JupyterMessage | undefined;
    let idle = false;
    const seen: string[] = [];
    const timer = setTimeout(
      () => finish(new Error(`No execute_reply and idle status within ${timeoutMs / 1000} s; messages seen: ${seen.join(', ') || 'none'}`)),
      timeoutMs
    );
    const onMessage = (data: WebSocket.RawData): void => {
      const msg = JSON.parse(data.toString()) as JupyterMessage;
      if (msg.parent_header.msg_id !== msgId) {
        return;
      }
      seen.push(`${msg.channel}/${msg.header.msg_type}`);
      if (msg.channel === 'iopub' && msg.header.msg_type === 'stream' && msg.content.name === 'stdout') {
        stdout += String(msg.content.text);
      } else if (msg.channel === 'iopub' && msg.header.msg_type === 'status' && msg.content.execution_state === 'idle') {
        idle = true;
      } else if (msg.channel === 'shell' && msg.header.msg_type === 'execute_reply') {
        reply = msg;
      }
      if (reply && idle) {
        finish();
      }
    };
    const onClose = (): void => finish(new Error(`The kernel WebSocket closed before the reply; messages seen: ${seen.join(', ')}`));
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      if (err) {
        reject(err);
      } else {
        resolve({ stdout, reply: reply as JupyterMessage });
      }
    };
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.send(JSON.stringify(request));
  });
}

function openWebSocket(url: string, timeoutMs = 30_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url} did not open within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket upgrade for ${url} was refused with ${res.statusCode}`));
    });
    ws.once('error', err => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

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
