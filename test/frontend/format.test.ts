import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nullTranslator } from '@jupyterlab/translation';
import { formatBytes, formatDuration, remainingNow, usageLevel } from '../../src/format';

const trans = nullTranslator.load('jupyterlab_gpu_workspace');

describe('the GPU-hours meter text', () => {
  it('shows hours and minutes left', () => {
    assert.equal(formatDuration(7 * 3600 + 32 * 60 + 59, trans), '7h 32m');
  });

  it('shows only minutes under an hour, and never a negative time', () => {
    assert.equal(formatDuration(45 * 60, trans), '45m');
    assert.equal(formatDuration(-20, trans), '0m');
  });

  it('counts down between polls at the burn rate, and stops at zero', () => {
    assert.equal(remainingNow(100, 1, 1_000, 11_000), 90);
    assert.equal(remainingNow(100, 0.5, 1_000, 11_000), 95);
    assert.equal(remainingNow(100, 0, 1_000, 11_000), 100);
    assert.equal(remainingNow(5, 1, 0, 60_000), 0);
  });
});

describe('the home usage meter text', () => {
  it('shows sizes in decimal units, as the cap is stated', () => {
    assert.equal(formatBytes(3e9), '3.00 GB');
    assert.equal(formatBytes(1_234_567_890), '1.23 GB');
    assert.equal(formatBytes(640_000), '640 kB');
    assert.equal(formatBytes(12), '12 B');
  });

  it('turns to the warning colour from 90 % of the cap, and to over above it', () => {
    assert.equal(usageLevel(2.69e9, 3e9), 'ok');
    assert.equal(usageLevel(2.7e9, 3e9), 'warning');
    assert.equal(usageLevel(3e9, 3e9), 'warning');
    assert.equal(usageLevel(3e9 + 1, 3e9), 'over');
  });
});
