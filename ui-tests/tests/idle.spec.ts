/**
 * The inactivity timeout in Chromium, against a workspace whose idle timeout
 * is seconds long (start-workspace.sh idle). Each test opens the workspace as
 * a person does (the ?token= link, then the login cookie and XSRF), so the
 * heartbeats, the stopped page and its Start button take the real path.
 */
import { expect, test } from '@playwright/test';
import type { APIRequestContext, Browser, BrowserContext, Page } from '@playwright/test';
import type { IdleStatus, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import { IDLE_PORT, TOKEN } from '../playwright.config';

const API = '/gpu-workspace/api/v1';
const ORIGIN = `http://127.0.0.1:${IDLE_PORT}`;

async function status(request: APIRequestContext): Promise<StatusResponse> {
  const res = await request.get(`${API}/status`);
  expect(res.status()).toBe(200);
  return (await res.json()) as StatusResponse;
}

const idleOf = async (request: APIRequestContext): Promise<IdleStatus> => (await status(request)).idle;

/**
 * Running, with no kernels, no keep-awake lease and a fresh idle clock: each
 * test starts from the same place, whatever an earlier test (or an earlier
 * --repeat-each run) left, such as a cell still looping under keep_awake.
 */
async function awake(request: APIRequestContext): Promise<void> {
  if ((await idleOf(request)).state === 'stopped') {
    await request.post(`${API}/server/start`, { data: {} });
  }
  await expect.poll(async () => {
    const s = await status(request);
    return s.jupyter.state === 'running' && s.idle.state !== 'stopped';
  }, { timeout: 120_000 }).toBe(true);
  const kernels = (await (await request.get('/api/kernels')).json()) as Array<{ id: string }>;
  for (const { id } of kernels) {
    expect((await request.delete(`/api/kernels/${id}`)).status()).toBe(204);
  }
  // A lease ends when its holder (the kernel) exits.
  await expect.poll(async () => (await idleOf(request)).leases.length, { timeout: 30_000 }).toBe(0);
  expect((await request.post(`${API}/activity`, { data: {} })).status()).toBe(200);
}

/** A person's tab: its own context (cookie login, no Authorization header), JupyterLab loaded. */
async function openLab(browser: Browser, path = ''): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: ORIGIN });
  const page = await context.newPage();
  // A JupyterLab workspace of its own: the default one would reopen what an earlier test left open.
  const workspace = `idle-${Math.random().toString(36).slice(2)}`;
  await page.goto(`/lab/workspaces/${workspace}${path ? `/${path}` : ''}?token=${TOKEN}`);
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 120_000 });
  await expect(page.locator('.jp-gpu-workspace-idle')).toHaveText(/Auto-stop in \d+:\d\d/);
  return { context, page };
}

const startButton = (page: Page) => page.getByRole('button', { name: 'Start', exact: true });

test.describe.configure({ mode: 'serial' });

test.describe('the idle stop in the browser', () => {
  test.beforeEach(async ({ request }) => {
    await awake(request);
  });

  test('an untouched open tab does not prevent the stop, and shows it plainly', async ({ browser, request }) => {
    const { context, page } = await openLab(browser);
    try {
      const dialogs: string[] = [];
      page.on('dialog', d => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await expect(startButton(page)).toBeVisible({ timeout: 90_000 });
      await expect(page.getByText('Your files are safe.')).toBeVisible();
      await expect(page.getByText(/kernel memory are gone/)).toBeVisible();
      expect((await idleOf(request)).state).toBe('stopped');
      await expect(page.getByText(/Kernel died|Restarting kernel/i)).toHaveCount(0);
      expect(dialogs).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("the stopped page's Start brings JupyterLab back with files intact", async ({ browser, request }) => {
    const put = await request.put('/api/contents/kept-by-idle.txt', { data: { type: 'file', format: 'text', content: 'still here' } });
    expect(put.status()).toBeLessThan(300);
    const { context, page } = await openLab(browser, 'tree/kept-by-idle.txt');
    try {
      await expect(startButton(page)).toBeVisible({ timeout: 90_000 });
      await startButton(page).click();
      // Back where the user was: JupyterLab, with the file open again.
      await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 120_000 });
      await expect(page.locator('.jp-gpu-workspace-idle')).toHaveText(/Auto-stop in/, { timeout: 60_000 });
      await expect(page.locator('.jp-FileEditor .cm-content')).toContainText('still here', { timeout: 60_000 });
      expect(page.url()).toContain('kept-by-idle.txt');
    } finally {
      await context.close();
    }
  });

  test('input in the tab keeps the workspace running', async ({ browser, request }) => {
    const { context, page } = await openLab(browser);
    try {
      const { timeout_minutes } = await idleOf(request);
      const until = Date.now() + timeout_minutes * 60_000 * 1.5;
      while (Date.now() < until) {
        await page.mouse.move(400, 300);
        await page.mouse.wheel(0, 10);
        await page.keyboard.press('Shift');
        expect((await idleOf(request)).state).not.toBe('stopped');
        await page.waitForTimeout(1000); // pacing the person's input, not waiting for a state
      }
      expect(['active', 'warning']).toContain((await idleOf(request)).state);
      await expect(startButton(page)).toHaveCount(0);
    } finally {
      await context.close();
    }
  });

  test('the warning dialog counts down, and Keep working resets the deadline', async ({ browser, request }) => {
    const { context, page } = await openLab(browser);
    try {
      const dialog = page.locator('.jp-Dialog');
      await expect(dialog.getByText(/This workspace stops in \d+:\d\d because nothing is happening/)).toBeVisible({ timeout: 60_000 });
      const before = await idleOf(request);
      expect(before.state).toBe('warning');
      await dialog.getByRole('button', { name: 'Keep working' }).click();
      await expect(dialog).toHaveCount(0);
      await expect.poll(async () => (await idleOf(request)).state).toBe('active');
      const after = await idleOf(request);
      expect(Date.parse(after.deadline ?? '')).toBeGreaterThan(Date.parse(before.deadline ?? ''));
    } finally {
      await context.close();
    }
  });

  test('the indicator shows a lease held by a running cell', async ({ browser, request }) => {
    const notebook = {
      type: 'notebook',
      content: {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
        cells: [
          {
            cell_type: 'code',
            id: 'hold',
            metadata: {},
            outputs: [],
            execution_count: null,
            source: "import time\nfrom workspace_utils import keep_awake\nfor i in keep_awake(range(40), label='training'):\n    time.sleep(1)"
          }
        ]
      }
    };
    expect((await request.put('/api/contents/hold.ipynb', { data: notebook })).status()).toBeLessThan(300);
    // Opening the notebook and starting its kernel may take longer than the short timeout on a busy
    // machine: the person is "here" until the cell runs (the lease holds from then on).
    const here = setInterval(() => void request.post(`${API}/activity`, { data: {} }).catch(() => undefined), 2000);
    const { context, page } = await openLab(browser, 'tree/hold.ipynb').catch(err => {
      clearInterval(here);
      throw err;
    });
    try {
      await expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).toHaveCount(1, { timeout: 60_000 });
      // Until the cell shows it runs ([*]): a key press that lands before the editor has focus runs nothing.
      const prompt = page.locator('.jp-Cell .jp-InputPrompt').first();
      await expect(async () => {
        await page.locator('.jp-Cell .cm-content').first().click();
        await page.keyboard.press('Shift+Enter');
        await expect(prompt).toHaveText(/\[(\*|\d+)\]/, { timeout: 5_000 });
      }).toPass({ timeout: 60_000 });
      const indicator = page.locator('.jp-gpu-workspace-idle');
      await expect(indicator).toHaveText(/Kept awake: training \(pid \d+\)/, { timeout: 60_000 });
      clearInterval(here);
      await expect(indicator).toHaveAttribute('data-state', 'held');
      await indicator.click();
      await expect(page.locator('.jp-gpu-workspace-idle-leases')).toContainText(/training — pid \d+, running for/);
      await page.locator('.jp-Dialog').getByRole('button', { name: 'Close' }).click();
      const held = await idleOf(request);
      expect(held.state).toBe('held');
      expect(held.leases.map(l => l.label)).toEqual(['training']);
    } finally {
      clearInterval(here);
      await context.close();
      const sessions: unknown = await (await request.get('/api/sessions')).json();
      for (const s of Array.isArray(sessions) ? (sessions as Array<{ id: string }>) : []) {
        await request.delete(`/api/sessions/${s.id}`);
      }
    }
  });
});
