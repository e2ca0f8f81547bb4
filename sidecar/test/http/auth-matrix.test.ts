/**
 * Who may call what, over every route the API's real router serves: each
 * kind of wrong credential is refused on each route, with a JSON message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { servedRoutes } from '../support/routes';
import { fetchJson, login, LoginCookies, Sidecar, startSidecar, tokenHeader } from '../support/sidecar';

const OPERATOR_TOKEN = 'operator-secret-for-the-auth-matrix';
const PUBLIC = new Set(['GET /health']);
const OPERATOR = new Set(['POST /quota/grants']);

let sidecar: Sidecar;
let cookies: LoginCookies;

before(async () => {
  sidecar = await startSidecar({ config: { operator: { token: OPERATOR_TOKEN } } });
  cookies = await login(sidecar);
});

after(async () => {
  await sidecar?.stop();
});

async function call(method: string, route: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetchJson(sidecar.apiUrl(route), {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    // A body that would be refused anyway: a request that got past authentication changes nothing.
    body: method === 'GET' ? undefined : JSON.stringify({ not_a_field: true })
  });
  return res;
}

function assertRefused(res: { status: number; body: Record<string, unknown> }, status: number, message?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(typeof res.body.message, 'string');
  assert.equal(typeof res.body.code, 'string');
  if (message) {
    assert.match(String(res.body.message), message);
  }
}

for (const { method, route } of servedRoutes()) {
  const name = `${method} ${route}`;
  if (PUBLIC.has(name)) {
    continue;
  }
  const operatorRoute = OPERATOR.has(name);
  describe(name, () => {
    test('with no credentials is refused', async () => {
      assertRefused(await call(method, route, {}), operatorRoute ? 403 : 401);
    });

    test('with a wrong token is refused', async () => {
      assertRefused(await call(method, route, { authorization: 'token not-the-token-at-all' }), operatorRoute ? 403 : 401);
    });

    if (method !== 'GET') {
      test('with the login cookie but no X-XSRFToken is refused', async () => {
        assertRefused(await call(method, route, { cookie: cookies.header }), 403);
      });

      test('with the login cookie from another site, even with a planted _xsrf, is refused', async () => {
        const planted = 'planted-by-another-server';
        const res = await call(method, route, {
          cookie: `${cookies.header.replace(/_xsrf=[^;]*/, '')}; _xsrf=${planted}`,
          'x-xsrftoken': planted,
          origin: 'http://evil.example',
          'sec-fetch-site': 'cross-site'
        });
        assertRefused(res, 403, operatorRoute ? undefined : /another site|Origin/);
      });

      test('with the login cookie and a foreign Origin alone is refused', async () => {
        const res = await call(method, route, { cookie: cookies.header, 'x-xsrftoken': cookies.xsrf, origin: 'http://evil.example' });
        assertRefused(res, 403, operatorRoute ? undefined : /Origin/);
      });
    }

    if (operatorRoute) {
      test('with the user\'s token is refused: it is not the operator token', async () => {
        assertRefused(await call(method, route, tokenHeader(sidecar)), 403, /operator token/);
      });
    } else {
      test('with the operator token is refused: it works only on operator routes', async () => {
        assertRefused(await call(method, route, { authorization: `token ${OPERATOR_TOKEN}` }), 403, /operator token works only on operator routes/);
      });
    }
  });
}

describe('the page\'s own writes', () => {
  test('a cookie write from the same origin with the XSRF header gets past authentication', async () => {
    const res = await call('POST', 'server/restart', {
      cookie: cookies.header,
      'x-xsrftoken': cookies.xsrf,
      origin: sidecar.origin,
      'sec-fetch-site': 'same-origin'
    });
    // 400: the body was refused, so authentication passed and nothing restarted.
    assert.equal(res.status, 400, JSON.stringify(res.body));
  });
});
