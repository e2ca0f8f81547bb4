/**
 * Reading credentials as every reader behind us would, on their own: query
 * tokens however spelled, Authorization in every scheme, the sidecar's login
 * cookie, and tornado's XSRF values.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { xsrfToken } from '../../src/http/auth';
import { offeredCredentials, parseCookies, withoutTokenParams } from '../../src/http/credentials';
import { SESSION_MAX_AGE_SECONDS, SessionKeys } from '../../src/http/session';

const req = (url: string, headers: Record<string, string> = {}): IncomingMessage => ({ url, headers }) as unknown as IncomingMessage;

describe('tokens in a request', () => {
  test('every ?token= value counts, however it is spelled, and a "#" hides nothing', () => {
    assert.deepEqual(offeredCredentials(req('/api?token=a&token=b')).tokens, ['a', 'b']);
    assert.deepEqual(offeredCredentials(req('/api?%74oken=a')).tokens, ['a']);
    assert.deepEqual(offeredCredentials(req('/api?x=1#&token=a')).tokens, ['a']);
    assert.deepEqual(offeredCredentials(req('/api?tokens=a&xtoken=b')).tokens, []);
  });

  test('Authorization "token" and "bearer" are tokens; Basic and other schemes are only looked into', () => {
    assert.deepEqual(offeredCredentials(req('/', { authorization: 'token abc' })).tokens, ['abc']);
    assert.deepEqual(offeredCredentials(req('/', { authorization: 'Bearer abc' })).tokens, ['abc']);
    const basic = offeredCredentials(req('/', { authorization: `Basic ${Buffer.from('user:secret').toString('base64')}` }));
    assert.deepEqual(basic.tokens, []);
    assert.ok(basic.mentioned.includes('user') && basic.mentioned.includes('secret'));
    assert.deepEqual(offeredCredentials(req('/?token=q', { authorization: 'token h' })).tokens.sort(), ['h', 'q']);
  });

  test('the URL Jupyter gets has no token parameter left, and keeps the rest in order', () => {
    assert.equal(withoutTokenParams('/lab?token=abc'), '/lab');
    assert.equal(withoutTokenParams('/lab?a=1&token=abc&b=2'), '/lab?a=1&b=2');
    assert.equal(withoutTokenParams('/lab?%74oken=abc&b=2'), '/lab?b=2');
    assert.equal(withoutTokenParams('/lab?token'), '/lab');
    assert.equal(withoutTokenParams('/lab?tokens=1&b=%zz'), '/lab?tokens=1&b=%zz');
    assert.equal(withoutTokenParams('/lab'), '/lab');
  });

  test('malformed cookies are skipped, never thrown on', () => {
    assert.deepEqual([...parseCookies('a=1; =2; b; c=3=4;;')], [['a', '1'], ['c', '3=4']]);
  });
});

describe("the sidecar's login cookie", () => {
  let now = 1_800_000_000_000;
  const keys = new SessionKeys(Buffer.alloc(32, 1), () => now);

  test('verifies what it issued, and nothing tampered with or signed by another key', () => {
    const value = keys.issue();
    assert.equal(keys.verify(value), true);
    assert.equal(keys.verify(value.replace(/.$/, c => (c === '0' ? '1' : '0'))), false);
    assert.equal(keys.verify(value.replace(/^1\.(\d+)\./, (_m, t: string) => `1.${Number(t) + 1}.`)), false);
    assert.equal(new SessionKeys(Buffer.alloc(32, 2), () => now).verify(value), false);
    for (const junk of ['', '1', '1..', '2.1.' + '0'.repeat(64), `1.1.${'z'.repeat(64)}`]) {
      assert.equal(keys.verify(junk), false, junk);
    }
  });

  test('ends after its life', () => {
    const value = keys.issue();
    now += (SESSION_MAX_AGE_SECONDS + 10) * 1000;
    assert.equal(keys.verify(value), false);
  });
});

describe("tornado's XSRF values", () => {
  test('a masked value (version 2) and the bare token name the same token', () => {
    const token = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const mask = Buffer.from('a1b2c3d4', 'hex');
    const masked = Buffer.from(token.map((b, i) => b ^ mask[i % 4]));
    const v2 = `2|${mask.toString('hex')}|${masked.toString('hex')}|1700000000`;
    assert.deepEqual(xsrfToken(v2), token);
    assert.deepEqual(xsrfToken(token.toString('hex')), token);
    assert.equal(xsrfToken('2|zz|00|1'), null);
    assert.equal(xsrfToken(''), null);
  });
});
