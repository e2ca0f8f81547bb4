import { expect, test } from '@jupyterlab/galata';

test('where the operator did not enable submission, Submit Project is not offered', async ({ page, request }) => {
  const res = await request.get('/gpu-workspace/api/v1/submissions');
  expect(((await res.json()) as { enabled: boolean }).enabled).toBe(false);
  // Hidden is also how the menu starts: wait until the page has had the sidecar's answer.
  await expect
    .poll(() => page.evaluate(() => performance.getEntriesByType('resource').some(e => e.name.includes('/gpu-workspace/api/v1/submissions') && (e as PerformanceResourceTiming).responseEnd > 0)))
    .toBe(true);
  await page.menu.open('Workspace');
  const menu = page.locator('.lm-Menu').last();
  await expect(menu.getByText('Refresh Workspace')).toBeVisible();
  await expect(menu.getByText('Submit Project…')).toBeHidden();
  await expect(menu.getByText('Submissions', { exact: true })).toBeHidden();
});
