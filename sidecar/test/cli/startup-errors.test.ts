/**
 * Start-up problems the operator must fix: the sidecar stops at once with a
 * non-zero exit code and one message that says what is wrong, never a stack
 * trace. None of these gets as far as a running Jupyter server.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { describe, test } from 'node:test';
import { CliRun, freePort, runUntilExit, STACK_LINE } from '../support/sidecar';

/** "Quickly": well before a Jupyter server could even have started. */
const QUICK_MS = 10_000;

function assertCleanFailure(run: CliRun): void {
  assert.notEqual(run.code, 0, `expected a non-zero exit code; stderr:\n${run.stderr}`);
  assert.equal(run.signal, null, 'expected an exit, not death by a signal');
  assert.ok(run.elapsedMs < QUICK_MS, `took ${run.elapsedMs} ms to fail; expected under ${QUICK_MS} ms`);
  assert.ok(!run.stderr.includes(STACK_LINE), `stderr should not contain a stack trace:\n${run.stderr}`);
  assert.ok(!run.stdout.includes('lab?token='), 'it must not announce a URL it does not serve');
}

describe('a bad config file', () => {
  test('an unknown key stops start-up and names the key', async () => {
    const run = await runUntilExit({ config: { listen_host: '127.0.0.1', colour: 'blue' } });
    assertCleanFailure(run);
    assert.match(run.stderr, /colour: is not a known key/);
  });

  test('an unknown nested key stops start-up and names it with its section', async () => {
    const run = await runUntilExit({ config: { jupyter: { start_timeout: 30 } } });
    assertCleanFailure(run);
    assert.match(run.stderr, /jupyter\.start_timeout: is not a known key/);
  });

  test('a value of the wrong type stops start-up and names the key and the expected type', async () => {
    const run = await runUntilExit({ config: { jupyter: { start_timeout_seconds: 'soon' } } });
    assertCleanFailure(run);
    assert.match(run.stderr, /jupyter\.start_timeout_seconds: must be number/);
  });

  test('a file that is not valid YAML stops start-up and says so', async () => {
    const run = await runUntilExit({ config: 'jupyter: [unclosed\n  command: x\n' });
    assertCleanFailure(run);
    assert.match(run.stderr, /not valid YAML/);
  });

  test('a .json file that is not valid JSON stops start-up and says so', async () => {
    const run = await runUntilExit({ config: '{"jupyter": ', configName: 'config.json' });
    assertCleanFailure(run);
    assert.match(run.stderr, /not valid JSON/);
  });
});

describe('a Jupyter that cannot start', () => {
  test('a Jupyter command that does not exist stops start-up saying it was not found', async () => {
    const run = await runUntilExit({ config: { jupyter: { command: ['/nonexistent/jupyter', 'lab'] } } });
    assertCleanFailure(run);
    assert.match(run.stderr, /"\/nonexistent\/jupyter" was not found/);
  });
});

describe('a port that is already taken', () => {
  test('stops start-up saying the port is in use', async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(port, '127.0.0.1', resolve);
    });
    try {
      const run = await runUntilExit({ port });
      assertCleanFailure(run);
      assert.match(run.stderr, new RegExp(`Port ${port} .*already in use`));
    } finally {
      await new Promise(resolve => squatter.close(resolve));
    }
  });
});
