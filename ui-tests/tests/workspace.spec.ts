import { expect, test as galataTest } from '@jupyterlab/galata';
import type { APIRequestContext, BrowserContext, Page } from '@playwright/test';
import { PORT, TOKEN } from '../playwright.config';

const API = '/gpu-workspace/api/v1';

interface Status {
  version: string;
  jupyter: { state: string; pid: number; restarts: number };
}

async function serverStatus(request: APIRequestContext): Promise<Status> {
  const res = await request.get(`${API}/status`);
  expect(res.status()).toBe(200);
  return (await res.json()) as Status;
}

const statusItem = (page: Page) => page.locator('.jp-gpu-workspace-status');

/** The part of JupyterLab's app object (exposed in the page as `window.jupyterapp`) the tests use. */
interface App {
  commands: { hasCommand(id: string): boolean; execute(id: string, args: object): Promise<unknown> };
}

/** Shuts down the sessions (and so the kernels) of notebooks in `folder`: deleting the folder leaves them running. */
async function shutDownSessionsIn(request: APIRequestContext, folder: string): Promise<void> {
  const res = await request.get('/api/sessions');
  expect(res.status()).toBe(200);
  for (const session of (await res.json()) as Array<{ id: string; path: string }>) {
    if (session.path.startsWith(`${folder}/`)) {
      expect((await request.delete(`/api/sessions/${session.id}`)).status()).toBe(204);
    }
  }
}

interface PersonPage {
  context: BrowserContext;
  page: Page;
}

/**
 * `person`: a browser context of the test's own, logged in through the `?token=` link as a person
 * is: no Authorization header and no Galata request routing, so cookie, XSRF and cut requests are real.
 *
 * Its page opens a JupyterLab workspace of its own, named after the test's folder (unique per test and
 * repetition), in that folder. Not the default workspace: Galata's pages reset and reuse that one, and a
 * page opened on it restores whatever notebooks the previous test left open there; one whose kernel is
 * gone asks "Select Kernel" and its dialog blocks the page. Afterwards the kernels the page started are
 * shut down, so none outlives its test.
 */
const test = galataTest.extend<{ person: PersonPage }>({
  person: async ({ browser, request, tmpPath }, use) => {
    const context = await browser.newContext({ baseURL: `http://127.0.0.1:${PORT}` });
    try {
      const page = await context.newPage();
      await page.goto(`/lab/workspaces/${tmpPath}/tree/${tmpPath}?token=${TOKEN}`);
      await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
      await expect(statusItem(page)).toHaveText('Workspace: connected');
      await use({ context, page });
    } finally {
      await context.close();
    }
    await shutDownSessionsIn(request, tmpPath);
  }
});

// Real server: Galata must not replace Jupyter's answers for these.
test.use({ mockConfig: false, mockState: false, mockUser: false });

test.describe('Workspace through the sidecar', () => {
  test('JupyterLab loads and the status bar shows the workspace connected', async ({ page }) => {
    await expect(statusItem(page)).toHaveText('Workspace: connected');
    await expect(statusItem(page)).toHaveAttribute('title', /Jupyter server running/);
  });

  test('on a machine without a GPU the top-bar toggle is disabled and says why', async ({ page }) => {
    const button = page.locator('.jp-gpu-workspace-toggle-button');
    await expect(button).toHaveText('Enable GPU');
    await expect(button).toBeDisabled();
    await expect(button).toHaveAttribute('title', /no NVIDIA GPU driver/);
  });

  test('the Workspace menu offers Refresh Workspace, also in the command palette', async ({ page }) => {
    await page.menu.open('Workspace');
    await expect(page.locator('.lm-Menu-itemLabel', { hasText: 'Refresh Workspace' })).toBeVisible();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+Shift+C');
    await page.locator('.lm-CommandPalette-input').fill('Refresh Workspace');
    await expect(page.locator('.lm-CommandPalette-item', { hasText: 'Refresh Workspace' })).toBeVisible();
  });

  test('Refresh Workspace saves the notebook, restarts the server and the notebook gets a fresh kernel', async ({
    page,
    request,
    tmpPath
  }) => {
    const name = 'refresh.ipynb';
    await page.notebook.createNew(name);
    await page.notebook.setCell(0, 'code', 'x = 41');
    await page.notebook.runCell(0);
    await page.notebook.save();
    // An unsaved change: Refresh must save it before restarting.
    await page.notebook.addCell('code', "print('x' in globals())");
    const before = await serverStatus(request);

    await page.menu.clickMenuItem('Workspace>Refresh Workspace');
    await expect(page.locator('.Toastify__toast', { hasText: 'Workspace refreshed' })).toBeVisible({ timeout: 90_000 });

    const after = await serverStatus(request);
    expect(after.jupyter.pid).not.toBe(before.jupyter.pid);
    expect(after.jupyter.restarts).toBe(before.jupyter.restarts + 1);

    const saved = await request.get(`/api/contents/${tmpPath}/${name}?content=1`);
    expect(JSON.stringify(await saved.json())).toContain("print('x' in globals())");

    // No "Error Starting Kernel" or "Kernel died" dialog, and the notebook has a kernel again.
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await expect(page.locator('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName')).not.toHaveText(/No Kernel/);
    const last = (await page.notebook.getCellCount()) - 1;
    await page.notebook.runCell(last);
    expect(await page.notebook.getCellTextOutput(last)).toEqual(['False\n']);
    await expect(statusItem(page)).toHaveText('Workspace: connected');
  });
});

test.describe('When the Jupyter server dies on its own', () => {
  test('the sidecar brings it back and the open notebook gets a fresh kernel, with one calm notice', async ({
    person: { page },
    request,
    tmpPath
  }) => {
    // The splash is gone before every plugin is active: wait until the command exists, then run it.
    await page.waitForFunction(() => (window as unknown as { jupyterapp: App }).jupyterapp.commands.hasCommand('notebook:create-new'));
    await page.evaluate(
      cwd => (window as unknown as { jupyterapp: App }).jupyterapp.commands.execute('notebook:create-new', { cwd, kernelName: 'python3' }),
      tmpPath
    );
    const kernelName = page.locator('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName');
    await expect(kernelName).toHaveText(/Python 3/);
    const runInLastCell = async (code: string): Promise<void> => {
      await page.locator('.jp-Notebook .jp-Cell').last().locator('.cm-content').click();
      await page.keyboard.type(code);
      await page.keyboard.press('Shift+Enter');
    };
    await runInLastCell('x = 41');
    await expect(page.locator('.jp-InputPrompt', { hasText: '[1]:' })).toBeVisible();
    const before = await serverStatus(request);

    process.kill(before.jupyter.pid, 'SIGKILL');

    await expect(page.locator('.Toastify__toast', { hasText: 'The Jupyter server restarted' })).toBeVisible({ timeout: 90_000 });
    await expect(page.locator('.Toastify__toast', { hasText: 'Your files are safe' })).toBeVisible();
    const after = await serverStatus(request);
    expect(after.jupyter.pid).not.toBe(before.jupyter.pid);
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    await expect(kernelName).toHaveText(/Python 3/);
    await runInLastCell("print('x' in globals())");
    await expect(page.locator('.jp-OutputArea-output').last()).toHaveText('False');
  });
});

test.describe('A person logged in with the token link (cookie and XSRF, no token header)', () => {
  test('sees the workspace connected and can refresh it', async ({ person: { context, page } }) => {
    const cookies = await context.cookies();
    expect(cookies.map(c => c.name)).toContain('_xsrf');

    await page.locator('.lm-MenuBar-itemLabel', { hasText: 'Workspace' }).click();
    await page.locator('.lm-Menu-itemLabel', { hasText: 'Refresh Workspace' }).click();
    await expect(page.locator('.Toastify__toast', { hasText: 'Workspace refreshed' })).toBeVisible({ timeout: 90_000 });
    await expect(statusItem(page)).toHaveText('Workspace: connected');
  });
});

test.describe('Bad answers are shown, not swallowed', () => {
  test('a refused restart is explained in a notification', async ({ page }) => {
    // The sidecar answers 409 while another restart runs; the user must read why.
    await page.route(/\/gpu-workspace\/api\/v1\/server\/restart/, route =>
      route.fulfill({
        status: 409,
        contentType: 'application/json',
        body: JSON.stringify({ message: 'The Jupyter server is already starting, stopping or restarting.', code: 'conflict' })
      })
    );
    await page.menu.clickMenuItem('Workspace>Refresh Workspace');
    await expect(
      page.locator('.Toastify__toast', { hasText: 'already starting, stopping or restarting' })
    ).toBeVisible();
  });
});

