/**
 * sidecar/openapi.yaml documents the API: exactly the routes and methods the
 * sidecar's real router serves, no more and no fewer, and exactly the error
 * codes of the wire contract. The router serves exactly the endpoints of
 * packages/api's map (whose types its handlers and the extension's clients
 * are compiled against).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { API_ENDPOINTS, ERROR_CODES } from '@jupyterlab-gpu-workspace/api';
import { ApiDeps, apiRoutes } from '../../src/http/api';
import { createLogger } from '../../src/log';
import { SIDECAR_DIR } from '../support/sidecar';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  components?: Record<string, Record<string, unknown>>;
}

const doc = parse(fs.readFileSync(path.join(SIDECAR_DIR, 'openapi.yaml'), 'utf8')) as OpenApiDocument;

/** Route → sorted upper-case methods, as documented. */
function documentedRoutes(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [route, item] of Object.entries(doc.paths)) {
    out[route] = Object.keys(item)
      .filter(key => HTTP_METHODS.includes(key))
      .map(m => m.toUpperCase())
      .sort();
  }
  return out;
}

/** Route → sorted methods, as the real router serves them (HEAD goes wherever GET does, unlisted). Building a router calls none of its dependencies. */
function servedRoutes(): Record<string, string[]> {
  const unused = new Proxy({}, { get: () => { throw new Error('building the router must not use its dependencies'); } });
  const deps = { prefix: '/', supervisor: unused, auth: unused, gpu: unused, ledger: unused, operatorToken: undefined, maxBodyBytes: 1, log: createLogger('error') } as unknown as ApiDeps;
  const routes = apiRoutes(deps).methodsByPath();
  // The router writes a path parameter ":id", OpenAPI "{id}".
  return Object.fromEntries([...routes].map(([route, methods]) => [route.replace(/:(\w+)/g, '{$1}'), [...new Set(methods)].sort()]));
}

/** Every "$ref" string anywhere in the document. */
function refs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    node.forEach(n => refs(n, found));
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        found.push(value);
      } else {
        refs(value, found);
      }
    }
  }
  return found;
}

describe('openapi.yaml', () => {
  test('the router serves exactly the endpoints of the wire contract, each once', () => {
    const unused = new Proxy({}, { get: () => { throw new Error('building the router must not use its dependencies'); } });
    const deps = { prefix: '/', supervisor: unused, auth: unused, gpu: unused, ledger: unused, operatorToken: undefined, maxBodyBytes: 1, log: createLogger('error') } as unknown as ApiDeps;
    const served = apiRoutes(deps).endpoints();
    assert.equal(new Set(served).size, served.length, `an endpoint is declared twice: ${served.join(', ')}`);
    assert.deepEqual([...served].sort(), [...API_ENDPOINTS].sort());
  });

  test('is an OpenAPI 3.1 document', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
  });

  test('documents every route the sidecar serves, with the same methods', () => {
    const documented = documentedRoutes();
    for (const [route, methods] of Object.entries(servedRoutes())) {
      assert.ok(route in documented, `the router serves ${route}, but openapi.yaml does not document it`);
      assert.deepEqual(documented[route], methods, `methods of ${route}`);
    }
  });

  test('documents no route the sidecar does not serve', () => {
    const served = servedRoutes();
    for (const [route, methods] of Object.entries(documentedRoutes())) {
      assert.ok(route in served, `openapi.yaml documents ${route}, but the router (src/http/api.ts) has no such route`);
      assert.deepEqual(methods, served[route], `methods of ${route}`);
    }
  });

  test('resolves every $ref within the document', () => {
    for (const ref of refs(doc)) {
      assert.match(ref, /^#\//, `only local references are used: ${ref}`);
      let node: unknown = doc;
      for (const part of ref.slice(2).split('/')) {
        node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      }
      assert.ok(node !== undefined, `${ref} points at nothing`);
    }
  });

  test('describes a success response for every operation', () => {
    for (const [route, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (HTTP_METHODS.includes(method)) {
          // 200; 201 for an operation that creates something; 202 for one that runs on (a restart).
          const success = Object.keys(operation.responses ?? {}).filter(code => /^2\d\d$/.test(code));
          assert.ok(success.length, `${method.toUpperCase()} ${route} has no success (2xx) response`);
        }
      }
    }
  });

  test('lists exactly the error codes of the wire contract', () => {
    const schema = doc.components?.schemas?.Error as { properties?: { code?: { enum?: string[] } } } | undefined;
    const documented = schema?.properties?.code?.enum;
    assert.ok(documented, 'components.schemas.Error.properties.code.enum should list the codes');
    assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());
  });
});
