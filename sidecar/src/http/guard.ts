import type { IncomingMessage } from 'node:http';
import * as os from 'node:os';
import { forbidden } from '../errors';
import { FrontDoorAuth, originHost } from './auth';

/**
 * Checks every request at the front door before it goes anywhere: the Host
 * it names, tokens that must never go where the request is headed (looked
 * for in every place a reader behind us might take one from), and the Origin
 * of every browser WebSocket.
 */
export interface FrontDoorGuard {
  /** Throws a 403 WorkspaceError for a request that must not go on. */
  check(req: IncomingMessage, target: 'api' | 'jupyter', upgrade: boolean): void;
  /** Whether the peer may tell us who the client is (X-Forwarded-*, X-Real-Ip, X-Scheme). */
  trustsForwardedHeaders(req: IncomingMessage): boolean;
}

export interface GuardOptions {
  /** Host names (no port) requests may name; "*" allows any. Empty: this machine's own names. */
  allowedHosts: string[];
  listenHost: string;
  /** Peers (IP addresses) whose X-Forwarded-* headers are believed, e.g. JupyterHub's proxy. */
  trustedProxies: string[];
  /** Knows the operator, kernel and Jupyter tokens. */
  auth: FrontDoorAuth;
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', '::1', 'localhost']);

/** The names a browser on this machine may use to reach a workspace listening on `listenHost`. */
export function defaultAllowedHosts(listenHost: string): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', listenHost.replace(/^\[|\]$/g, ''), os.hostname()].map(h => h.toLowerCase()))];
}

/** The host part of a Host header: "Example.org:8888" → "example.org", "[::1]:80" → "::1". */
export function hostName(header: string | undefined): string {
  const value = (header ?? '').trim().toLowerCase();
  if (value.startsWith('[')) {
    return value.slice(1, value.indexOf(']') > 0 ? value.indexOf(']') : undefined);
  }
  return value.replace(/:\d*$/, '');
}

/** An IPv4-mapped IPv6 address ("::ffff:127.0.0.1") as the IPv4 address it stands for. */
const plainAddress = (address: string | undefined): string => (address ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

export function createGuard(options: GuardOptions): FrontDoorGuard {
  const anyHost = options.allowedHosts.includes('*');
  const allowed = new Set((options.allowedHosts.length ? options.allowedHosts : defaultAllowedHosts(options.listenHost)).map(h => h.toLowerCase()));
  const trusted = new Set(options.trustedProxies.map(plainAddress));
  return {
    check(req, target, upgrade): void {
      const found = options.auth.protectedTokens(req);
      // DNS rebinding: a page on evil.example that resolves to this machine sends Host: evil.example.
      // Kernels call GPU_WORKSPACE_URL on loopback, whatever public names allowed_hosts lists; a
      // rebinding page cannot know the kernel token.
      const loopbackKernel = found.kernel && LOOPBACK_NAMES.has(hostName(req.headers.host));
      if (!anyHost && !loopbackKernel && !allowed.has(hostName(req.headers.host))) {
        throw forbidden(`Host "${req.headers.host ?? ''}" is not allowed here. An operator can add it to allowed_hosts.`);
      }
      if (found.jupyter) {
        throw forbidden('That token belongs to the Jupyter server behind this workspace and is never accepted from outside.');
      }
      if (target === 'jupyter' && found.operator) {
        throw forbidden('The operator token is for the operator API only; it is never passed on to Jupyter.');
      }
      if (target === 'jupyter' && found.kernel) {
        throw forbidden('The kernel token (GPU_WORKSPACE_TOKEN) may only hold keep-awake leases and read the status; it is never passed on to Jupyter.');
      }
      if (upgrade) {
        checkWebSocketOrigin(req);
      }
    },
    trustsForwardedHeaders(req): boolean {
      return trusted.has(plainAddress(req.socket.remoteAddress));
    }
  };
}

/**
 * A browser's WebSocket must be opened by the workspace's own pages, whatever
 * credentials it carries: a page elsewhere can put any ?token= in the URL
 * while the browser adds the victim's cookie. Clients that are not browsers
 * send no Origin and cannot carry a victim's cookie on their own.
 */
function checkWebSocketOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) {
    return;
  }
  if (originHost(origin) !== (req.headers.host ?? '').toLowerCase()) {
    throw forbidden(`WebSocket refused: opened from ${origin}, not from this workspace's pages.`);
  }
}

/** Request headers a client may use to lie about who it is, unless it is a trusted proxy. */
export const FORWARDING_HEADERS = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip', 'x-scheme', 'forwarded'];
