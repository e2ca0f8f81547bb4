/**
 * Driving a real kernel over its WebSocket, as JupyterLab does (JSON protocol v5.3),
 * for the tests that must see what user code sees.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

/** A Jupyter message as the server's JSON WebSocket protocol carries it (protocol v5.3). */
export interface JupyterMessage {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  channel: string;
  buffers?: unknown[];
}

export interface Execution {
  stdout: string;
  reply: JupyterMessage;
}

/**
 * Sends `code` as an execute_request on the shell channel and collects the
 * stdout stream from iopub until the execute_reply has come and the kernel
 * went idle again.
 */
export function execute(ws: WebSocket, code: string, timeoutMs = 60_000): Promise<Execution> {
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

export function openWebSocket(url: string, timeoutMs = 30_000, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
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
