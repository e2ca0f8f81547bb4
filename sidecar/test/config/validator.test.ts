/**
 * The config validator is generated ahead of time (scripts/config-validator.ts)
 * so that ajv is not loaded at every start. The committed file must be what
 * the schema generates now, and it must judge configs exactly as ajv
 * compiling the schema at run time does: the same defaults filled in, the
 * same errors.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import Ajv, { ValidateFunction } from 'ajv';
import { configValidatorSource, GENERATED_VALIDATOR } from '../../scripts/config-validator';
import { CONFIG_SCHEMA } from '../../src/config/schema';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const generated = require('../../src/config/validateConfig.generated') as ValidateFunction;

test('the committed validator is what the schema generates now (run `npm run gen:config-validator -w sidecar` after changing the schema)', () => {
  assert.equal(fs.readFileSync(GENERATED_VALIDATOR, 'utf8'), configValidatorSource());
});

test('it fills the same defaults and reports the same errors as ajv compiling the schema at run time', () => {
  const compiled = new Ajv({ allErrors: true, useDefaults: true, strict: true, discriminator: true }).compile(CONFIG_SCHEMA);
  const cases: unknown[] = [
    {},
    { gpu: { profiles: [{ name: 'a100', weight: 2 }] }, idle: { timeout_minutes: 45 } },
    { submit: { enabled: true, destination: { type: 'http', url: 'https://example.edu/in', token: 'x'.repeat(20) } } },
    { listen_host: 7, unknown_key: true, idle: { signals: 'sometimes' } },
    { submit: { destination: { type: 'ftp' } }, gpu: { quota: { hours: -1 } } },
    { base_url: 'no-slashes', snapshots: { keep_last: 'many' } }
  ];
  for (const input of cases) {
    const a = structuredClone(input);
    const b = structuredClone(input);
    const okA = generated(a);
    const okB = compiled(b);
    assert.equal(okA, okB, JSON.stringify(input));
    assert.deepEqual(a, b, `defaults for ${JSON.stringify(input)}`);
    assert.deepEqual(generated.errors ?? null, compiled.errors ?? null, `errors for ${JSON.stringify(input)}`);
  }
});
