import * as http from 'node:http';

export interface UnixResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A small HTTP client for Jupyter's private Unix socket (health checks, /api/me, shutdown). */
export function requestOverSocket(
  socketPath: string,
  options: { method?: string; path: string; headers?: http.OutgoingHttpHeaders; timeoutMs?: number; body?: string }
): Promise<UnixResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method: options.method ?? 'GET',
        path: options.path,
        headers: { host: 'localhost', ...options.headers },
        timeout: options.timeoutMs ?? 5000
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        );
        res.on('error', reject);
      }
    );
    req.on('timeout', () => req.destroy(new Error(`request to ${options.path} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
