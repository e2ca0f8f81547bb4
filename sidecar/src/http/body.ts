import { badRequest } from '../errors';

/** Requests that need no body must not smuggle one: anything but an empty JSON object is refused. */
export function expectNoFields(req: { body?: unknown }): void {
  const body: unknown = req.body;
  if (body === undefined || body === null) {
    return;
  }
  if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0) {
    throw badRequest('This request takes no fields; send an empty body or {}.');
  }
}

/** Reads a JSON object body, refusing anything else and any key not listed. */
export function objectBody(req: { body?: unknown }, allowed: string[]): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Send a JSON object as the request body.');
  }
  const unknown = Object.keys(body).filter(k => !allowed.includes(k));
  if (unknown.length) {
    throw badRequest(`Unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Allowed: ${allowed.join(', ')}.`);
  }
  return body as Record<string, unknown>;
}
