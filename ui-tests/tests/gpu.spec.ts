import { expect, test } from '@jupyterlab/galata';
import type { StatusResponse } from '@jupyterlab-gpu-workspace/api';
import type { APIRequestContext, Page } from '@playwright/test';

/*
 * Runs against the workspace whose nvidia-smi is the test stand-in (one fake
 * H100) with a tiny quota (0.025 h = 90 s), 1 s ticks and a 1-minute warning.
 * The tests form one story, in order: switch on, watch it burn, run out. The
 * story begins from CPU mode with a full allocation, so it can run again in
 * the same workspace (`--repeat-each`): the hours the last run burned are
 * granted back with the operator token first.
 */

const API = '/gpu-workspace/api/v1';

async function status(request: APIRequestContext): Promise<StatusResponse> {
  const res = await request.get(`${API}/status`);
  expect(res.status()).toBe(200);
  return (await res.json()) as StatusResponse;
}

const toggle = (page: Page) => page.locator('.jp-gpu-workspace-toggle-button');
const topMeter = (page: Page) => page.locator('.jp-gpu-workspace-meter-topbar');
const statusMeter = (page: Page) => page.locator('.jp-gpu-workspace-meter-statusbar');
const toast = (page: Page, text: string | RegExp) => page.locator('.Toastify__toast', { hasText: text });

test.use({ mockConfig: false, mockState: false, mockUser: false });

/** Set in start-workspace.sh's gpu config; operator calls take it instead of the user's token. */
const OPERATOR_TOKEN = process.env.UI_TEST_OPERATOR_TOKEN ?? 'ui-test-operator-token';

/** CPU mode and a full allocation, whatever an earlier run of the story left. */
async function startFromAFullAllocation(request: APIRequestContext): Promise<void> {
  if ((await status(request)).gpu.mode !== 'off') {
    const off = await request.post(`${API}/gpu`, { data: { enabled: false } });
    expect(off.status()).toBeLessThan(300);
    await expect.poll(async () => (await status(request)).gpu.mode, { timeout: 90_000 }).toBe('off');
  }
  const { quota } = await status(request);
  // allocation_seconds includes earlier grants: the story wants the period's own allocation, no more.
  const base = quota.allocation_seconds - quota.granted_seconds;
  const missing = base - quota.remaining_seconds;
  if (missing > 0) {
    const grant = await request.post(`${API}/quota/grants`, {
      headers: { Authorization: `token ${OPERATOR_TOKEN}` },
      data: { hours: missing / 3600, reason: 'UI test: the GPU story starts with a full allocation' }
    });
    expect(grant.status()).toBe(201);
  }
  const remaining = (await status(request)).quota.remaining_seconds;
  expect(remaining).toBeGreaterThanOrEqual(base - 1);
  expect(remaining).toBeLessThanOrEqual(base + 0.5);
}

test.describe.serial('GPU mode with a small quota', () => {
  test.beforeAll(async ({ request }) => {
    await startFromAFullAllocation(request);
  });

  test('Enable GPU saves the unsaved notebook, and its new kernel sees the GPU', async ({ page, request, tmpPath }) => {
    const name = 'gpu.ipynb';
    await page.notebook.createNew(name);
    await page.notebook.setCell(0, 'code', "import os; print(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))");
    await page.notebook.runCell(0);
    expect(await page.notebook.getCellTextOutput(0)).toEqual(["''\n"]);
    // Unsaved: the switch must save it first.
    await page.notebook.addCell('markdown', 'saved by the GPU switch');

    await expect(toggle(page)).toHaveText('Enable GPU');
    await toggle(page).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('kernels restart');
    await dialog.locator('.jp-mod-accept').click();
    await expect(toast(page, 'GPU mode is on')).toBeVisible({ timeout: 90_000 });

    await expect(toggle(page)).toHaveText('Disable GPU');
    expect((await status(request)).gpu.mode).toBe('on');
    const saved = await request.get(`/api/contents/${tmpPath}/${name}?content=1`);
    expect(JSON.stringify(await saved.json())).toContain('saved by the GPU switch');

    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await page.notebook.runCell(0);
    expect(await page.notebook.getCellTextOutput(0)).toEqual(["'0'\n"]);
  });

  test('the meter burns while GPU mode is on and warns when hours run low', async ({ page, request }) => {
    await expect(topMeter(page)).toHaveAttribute('data-burning', 'true');
    await expect(statusMeter(page)).toContainText('GPU on');
    await expect(statusMeter(page)).toContainText('/80 GiB');
    const before = (await status(request)).quota.used_seconds;
    await expect.poll(async () => (await status(request)).quota.used_seconds, { timeout: 10_000 }).toBeGreaterThan(before + 1.5);
    // 90 s allocation, warning at 1 minute left.
    await expect(toast(page, 'running low')).toBeVisible({ timeout: 60_000 });
    await expect(topMeter(page)).toHaveAttribute('data-level', /critical|empty/);
  });

  test('when the hours run out the sidecar switches to CPU mode once, every open tab says why, and none asks for the switch itself', async ({
    page,
    request
  }) => {
    // A second tab of the same workspace: both must stay calm, and neither may try the switch (it is the sidecar's).
    const second = await page.context().newPage();
    await second.goto(page.url());
    await expect(second.locator('.jp-gpu-workspace-status')).toHaveText('Workspace: connected', { timeout: 60_000 });
    const switchRequests: string[] = [];
    for (const p of [page, second]) {
      p.on('request', r => {
        if (r.method() === 'POST' && r.url().includes(`${API}/gpu`)) {
          switchRequests.push(r.url());
        }
      });
    }
    await expect(toast(page, 'used up')).toBeVisible({ timeout: 120_000 });
    await expect(toast(second, 'used up')).toBeVisible({ timeout: 30_000 });
    await expect.poll(async () => (await status(request)).gpu.mode, { timeout: 90_000 }).toBe('off');
    expect((await status(request)).gpu.switch_reason).toBe('quota_exhausted');
    expect(switchRequests).toEqual([]);
    for (const p of [page, second]) {
      await expect(toast(p, /could not|in progress|already/)).toHaveCount(0);
    }
    await second.close();
    const s = await status(request);
    expect(s.quota.remaining_seconds).toBe(0);
    expect(s.quota.used_seconds).toBeLessThanOrEqual(s.quota.allocation_seconds + 0.01);
    await expect(toggle(page)).toHaveText('Enable GPU');
    await expect(toggle(page)).toBeDisabled();
    await expect(toggle(page)).toHaveAttribute('title', /No GPU hours left/);
    await expect(topMeter(page)).toHaveText('GPU 0m left');
    // Asking anyway is refused with the reason.
    const res = await request.post(`${API}/gpu`, { data: { enabled: true } });
    expect(res.status()).toBe(409);
    expect((await res.json()).message).toMatch(/No GPU hours are left/);
  });
});
