import { expect, test } from '@jupyterlab/galata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import type { APIRequestContext } from '@playwright/test';

const API = '/gpu-workspace/api/v1';

/** The meter's text for a size, as src/format.ts writes it (decimal units). */
function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${value} B` : `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ${units[i]}`;
}

async function homeUsage(request: APIRequestContext): Promise<{ used_bytes: number; cap_bytes: number }> {
  const res = await request.get(`${API}/home/usage`);
  expect(res.status()).toBe(200);
  return (await res.json()) as { used_bytes: number; cap_bytes: number };
}

const NOTEBOOK = { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 };

test.describe('home snapshots', () => {
  test('the status bar shows the home folder\'s size against its cap', async ({ page, request, tmpPath }) => {
    const put = await request.put(`/api/contents/${tmpPath}/data.bin`, {
      data: { type: 'file', format: 'base64', content: Buffer.alloc(300_000, 7).toString('base64') }
    });
    expect(put.status()).toBe(201);
    await page.reload();
    const meter = page.locator('.jp-gpu-workspace-home-usage');
    // The meter reads the home when the page loads; the same measurement through the API must match it.
    await expect(async () => {
      const usage = await homeUsage(request);
      expect(usage.used_bytes).toBeGreaterThanOrEqual(300_000);
      await expect(meter).toHaveText(`Home ${formatBytes(usage.used_bytes)} / ${formatBytes(usage.cap_bytes)}`, { timeout: 2000 });
    }).toPass({ timeout: 30_000 });
    await meter.click();
    await expect(page.locator('.jp-gpu-workspace-snapshots-largest')).toContainText(`${tmpPath}/`);
  });

  test('the Snapshots panel lists a new snapshot and brings back a deleted notebook', async ({ page, request, tmpPath }) => {
    const path = `${tmpPath}/lost.ipynb`;
    expect((await request.put(`/api/contents/${path}`, { data: { type: 'notebook', format: 'json', content: NOTEBOOK } })).status()).toBe(201);

    await page.menu.clickMenuItem('Workspace>Snapshots…');
    const panel = page.locator('.jp-gpu-workspace-snapshots');
    await expect(panel).toBeVisible();
    const rows = panel.locator('.jp-gpu-workspace-snapshots-table tr[data-id]');
    // The snapshots there were before (an earlier test, or an earlier --repeat-each run, took some):
    // asked of the API, since the panel may not have listed them yet.
    const listed = await request.get(`${API}/snapshots`);
    expect(listed.status()).toBe(200);
    const known = new Set(((await listed.json()) as SnapshotListResponse).snapshots.map(s => s.id));
    await panel.getByRole('button', { name: 'Take snapshot now' }).click();
    const newest = rows.first();
    await expect.poll(async () => !known.has((await newest.getAttribute('data-id')) ?? ''), { timeout: 60_000 }).toBe(true);
    await expect(newest.locator('td').nth(1)).toHaveText('manual');

    expect((await request.delete(`/api/contents/${path}`)).status()).toBe(204);

    await newest.getByRole('button', { name: 'Browse' }).click();
    const files = panel.locator('.jp-gpu-workspace-snapshots-entries');
    await files.getByRole('button', { name: `${tmpPath}/` }).click();
    const entry = files.locator(`li[data-path="${path}"]`);
    await entry.getByRole('button', { name: 'Restore' }).click();
    await expect(page.locator('.jp-toast-message').filter({ hasText: 'restored' })).toBeVisible();
    const back = await request.get(`/api/contents/${path}`);
    expect(back.status()).toBe(200);
    expect(((await back.json()) as { type: string }).type).toBe('notebook');
  });
});

test('an upload that would cross the home cap is refused, and JupyterLab shows why', async ({ page, request, tmpPath }) => {
  await page.filebrowser.openDirectory(tmpPath);
  const chooser = page.waitForEvent('filechooser');
  await page.locator('.jp-FileBrowser').getByTitle('Upload Files').click();
  // JupyterLab sends it in 1 MB chunks: those that fit are written, the one that would cross the cap is refused.
  await (await chooser).setFiles({ name: 'too-big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(10_000_000, 3) });
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Upload Error');
  await expect(dialog).toContainText('would take your home folder over its 8.00 MB cap');
  await dialog.getByRole('button', { name: 'Close' }).click();
  const usage = await homeUsage(request);
  expect(usage.used_bytes).toBeLessThanOrEqual(usage.cap_bytes);
  // The meter turns to the warning colour from 90 % of the cap.
  await page.reload();
  await expect(page.locator('.jp-gpu-workspace-home-usage')).toHaveAttribute('data-level', usage.used_bytes >= 0.9 * usage.cap_bytes ? 'warning' : 'ok');
  expect((await request.delete(`/api/contents/${tmpPath}/too-big.bin`)).status()).toBe(204);
});

test('at the cap, deleting the big file in the file browser frees the home at once: the meter and snapshots work again', async ({ page, request, tmpPath }) => {
  // What a kernel's output does (the front door guards only uploads): here written straight into the workspace's home.
  const home = path.join(__dirname, '..', '.run-plain', 'home');
  fs.writeFileSync(path.join(home, tmpPath, 'results.bin'), Buffer.alloc(9_000_000, 5));
  await page.reload();
  const meter = page.locator('.jp-gpu-workspace-home-usage');
  await expect(meter).toHaveAttribute('data-level', 'over');
  expect((await request.post(`${API}/snapshots`, { data: {} })).status()).toBe(409);

  await page.filebrowser.openDirectory(tmpPath);
  const item = page.locator('.jp-DirListing-item', { hasText: 'results.bin' });
  await item.click({ button: 'right' });
  await page.locator('.lm-Menu-item', { hasText: 'Delete' }).first().click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(item).toHaveCount(0);

  expect(fs.existsSync(path.join(home, '.local', 'share', 'Trash', 'files', 'results.bin')), 'the file went to a Trash in the home').toBe(false);
  // The meter asks again once JupyterLab says a file changed: no reload, no wait for its slow poll.
  await expect(meter).not.toHaveAttribute('data-level', 'over');
  const usage = await homeUsage(request);
  expect(usage.used_bytes).toBeLessThan(usage.cap_bytes);
  expect((await request.post(`${API}/snapshots`, { data: {} })).status()).toBe(201);
});
