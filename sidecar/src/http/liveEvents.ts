import type { ServerResponse } from 'node:http';
import type { HookEvent, IdleNotice, LiveEventName, LiveState } from '@jupyterlab-gpu-workspace/api';
import { rateLimited } from '../errors';

export interface LiveEventsOptions {
  /** The whole live state, read when it is sent. */
  snapshot: () => LiveState;
  /** Changes closer together than this are sent once (ms). */
  coalesceMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream (ms). */
  keepAliveMs?: number;
  maxClients?: number;
}

/**
 * The push channel to open pages (Server-Sent Events on GET events): the
 * whole live state (idle countdown and leases, GPU mode and switch progress,
 * quota ticks, Jupyter's state) once on connect and again after every
 * change, plus notices. Browsers' EventSource reconnects by itself after a
 * sidecar restart; `retry` tells it how soon.
 */
export class LiveEvents {
  private clients = new Set<ServerResponse>();
  private pending: NodeJS.Timeout | null = null;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(private readonly options: LiveEventsOptions) {}

  get clientCount(): number {
    return this.clients.size;
  }

  subscribe(res: ServerResponse): void {
    if (this.clients.size >= (this.options.maxClients ?? 256)) {
      throw rateLimited(`Too many open event streams: at most ${this.options.maxClients ?? 256}. Close some tabs.`);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Nginx (JupyterHub's proxy setups) must not buffer the stream.
      'x-accel-buffering': 'no'
    });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    this.send(res, 'state', this.options.snapshot());
    this.keepAlive ??= setInterval(() => this.broadcastRaw(': keep-alive\n\n'), this.options.keepAliveMs ?? 15_000);
    this.keepAlive.unref();
  }

  /** Something live changed: every page gets the state (changes close together are sent once). */
  changed(): void {
    if (this.pending || this.clients.size === 0) {
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = null;
      const state = this.options.snapshot();
      for (const res of this.clients) {
        this.send(res, 'state', state);
      }
    }, this.options.coalesceMs ?? 50);
  }

  notice(notice: IdleNotice): void {
    for (const res of this.clients) {
      this.send(res, 'notice', notice);
    }
  }

  /** A hook run's start, output or end, for open log panels (sent as it comes: output must not wait). */
  hook(event: HookEvent): void {
    for (const res of this.clients) {
      this.send(res, 'hook', event);
    }
  }

  close(): void {
    if (this.pending) {
      clearTimeout(this.pending);
    }
    if (this.keepAlive) {
      clearInterval(this.keepAlive);
    }
    for (const res of this.clients) {
      res.end();
    }
    this.clients.clear();
  }

  private send(res: ServerResponse, event: LiveEventName, data: unknown): void {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private broadcastRaw(line: string): void {
    for (const res of this.clients) {
      res.write(line);
    }
  }
}
