import { expect, test } from '@jupyterlab/galata';
import type { SubmissionListResponse } from '@jupyterlab-gpu-workspace/api';
import type { APIRequestContext } from '@playwright/test';
import { followNotification } from './progress';

const API = '/gpu-workspace/api/v1';

const NOTEBOOK = {
  cells: [{ cell_type: 'markdown', id: 'intro', metadata: {}, source: ['# My course project'] }],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
};

async function submissions(request: APIRequestContext): Promise<SubmissionListResponse> {
  const res = await request.get(`${API}/submissions`);
  expect(res.status()).toBe(200);
  return (await res.json()) as SubmissionListResponse;
}

test.describe('Submit Project', () => {
  test.beforeEach(async ({ request }) => {
    // Each run starts from a project whose required notebook is missing (a 404 just means it already is).
    const res = await request.delete('/api/contents/project.ipynb');
    expect([204, 404]).toContain(res.status());
  });

  test('the checklist shows the notebook missing, then present; the submission converts it and its receipt is in the history', async ({ page, request }) => {
    // The deadline that matters is followNotification's: no step may stall. The whole may be slow.
    test.slow();
    const known = new Set((await submissions(request)).submissions.map(s => s.id));
    // The menu item is there only where the operator enabled submission: the page learns that once it loads.
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { jupyterapp: { commands: { isVisible(id: string): boolean } } }).jupyterapp.commands.isVisible('gpu-workspace:submit-project')))
      .toBe(true);
    await page.menu.clickMenuItem('Workspace>Submit Project…');

    const dialog = page.locator('.jp-Dialog');
    const item = dialog.locator('.jp-gpu-workspace-submit-item[data-path="project.ipynb"]');
    await expect(item).toContainText('✗ Missing');
    await expect(dialog.locator('.jp-gpu-workspace-submit-conversion')).toContainText('Nothing to convert');
    const submit = dialog.getByRole('button', { name: 'Submit', exact: true });
    await expect(submit).toBeDisabled();

    const put = await request.put('/api/contents/project.ipynb', { data: { type: 'notebook', format: 'json', content: NOTEBOOK } });
    expect(put.status()).toBe(201);
    await dialog.getByRole('button', { name: 'Check again' }).click();
    await expect(item).toContainText('✓ Present');
    await expect(dialog.locator('.jp-gpu-workspace-submit-conversion')).toContainText('project.ipynb → project.html');
    await expect(submit).toBeEnabled();
    await submit.click();

    // nbconvert can take minutes on a busy machine: the test follows the steps the notification reports.
    await followNotification(page, 'Submitting', /Project submitted/);
    const toast = page.locator('.jp-toast-message').filter({ hasText: 'Project submitted' });
    await expect(toast).toBeVisible();
    const after = await submissions(request);
    const receipt = after.submissions.find(s => !known.has(s.id));
    expect(receipt?.outcome).toBe('delivered');
    expect(receipt?.files.find(f => f.path === 'project.html')?.source).toBe('conversion');
    await expect(toast).toContainText(receipt?.id ?? 'no receipt');

    await page.menu.clickMenuItem('Workspace>Submissions');
    const row = page.locator(`.jp-gpu-workspace-submission[data-id="${receipt?.id}"]`);
    await expect(row).toContainText('✓ Delivered');
    await row.locator('summary', { hasText: 'Receipt' }).click();
    const files = row.locator('.jp-gpu-workspace-submission-files');
    await expect(files).toContainText('project.html (converted)');
    await expect(files).toContainText(receipt?.files.find(f => f.path === 'project.html')?.sha256 ?? 'no sum');

    // The conversion ran as an operator hook: its log panel shows nbconvert's own output and how it ended.
    await page.evaluate(() =>
      (window as unknown as { jupyterapp: { commands: { execute(id: string): Promise<unknown> } } }).jupyterapp.commands.execute('gpu-workspace:open-latest-hook-log')
    );
    const log = page.locator('.jp-gpu-workspace-hooklog');
    await expect(page.locator('.lm-TabBar-tab', { hasText: 'Convert project.ipynb to HTML' })).toBeVisible();
    await expect(log.locator('.jp-gpu-workspace-hooklog-state')).toHaveText('Finished (exit code 0)');
    await expect(log.locator('.jp-gpu-workspace-hooklog-output')).toContainText('Converting notebook');
  });
});
