import { expect, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

/**
 * Reset Data in Chromium against the real sidecar of the `project`
 * workspace, whose operator template holds welcome.md and
 * notebooks/lesson1.ipynb. The test ends with the undo, so the home is as it
 * found it; it compares with what was there before rather than assuming.
 */

async function exists(request: APIRequestContext, path: string): Promise<boolean> {
  const res = await request.get(`/api/contents/${path}?content=0`);
  expect([200, 404]).toContain(res.status());
  return res.status() === 200;
}

async function text(request: APIRequestContext, path: string): Promise<string> {
  const res = await request.get(`/api/contents/${path}?type=file&format=text`);
  expect(res.status()).toBe(200);
  return ((await res.json()) as { content: string }).content;
}

test('Reset Data asks for the exact words, replaces the home with the template, and Undo brings the files back', async ({ page, request, tmpPath }) => {
  const mine = `${tmpPath}/my-results.txt`;
  const content = `results of ${tmpPath}\n`;
  expect((await request.put(`/api/contents/${mine}`, { data: { type: 'file', format: 'text', content } })).status()).toBe(201);
  const welcomeBefore = await exists(request, 'welcome.md');

  await page.menu.clickMenuItem('Workspace>Reset Data…');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('snapshot');
  const input = dialog.getByRole('textbox', { name: 'Type "Reset data" to confirm:' });
  const reset = dialog.getByRole('button', { name: 'Reset' });
  await expect(reset).toBeDisabled();
  for (const wrong of ['reset data', 'Reset data ', 'Reset']) {
    await input.fill(wrong);
    await expect(reset).toBeDisabled();
  }
  // Enter with the wrong words does nothing: the dialog stays, nothing is reset.
  await input.press('Enter');
  await expect(dialog).toBeVisible();
  expect(await exists(request, mine)).toBe(true);

  await input.fill('Reset data');
  await expect(reset).toBeEnabled();
  const reloaded = page.waitForEvent('load', { timeout: 120_000 });
  await reset.click();
  await reloaded;

  const done = page.locator('.Toastify__toast', { hasText: 'Your home folder was reset to a clean copy.' });
  await expect(done).toBeVisible({ timeout: 60_000 });
  expect(await exists(request, mine)).toBe(false);
  expect(await text(request, 'welcome.md')).toContain('Welcome to the course');
  await expect(page.locator('.jp-DirListing-item[title^="Name: welcome.md"]')).toBeVisible();

  const undone = page.waitForEvent('load', { timeout: 120_000 });
  await done.getByRole('button', { name: 'Undo reset' }).click();
  await undone;
  await expect(page.locator('.Toastify__toast', { hasText: 'Your files are back as they were before the reset.' })).toBeVisible({ timeout: 60_000 });
  expect(await text(request, mine)).toBe(content);
  expect(await exists(request, 'welcome.md')).toBe(welcomeBefore);
});
