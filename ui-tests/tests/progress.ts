import type { Page } from '@playwright/test';

/**
 * Follows a long job's progress notification until it says `done`. It fails
 * only when the message stops changing for `stallMs` (a job that hangs),
 * never because the whole job is slow: on a busy machine a conversion may
 * take minutes, and each step it reports moves the deadline on. The error
 * names the step it was stuck at.
 */
export async function followNotification(page: Page, start: string | RegExp, done: RegExp, stallMs = 90_000): Promise<string> {
  const toast = page.locator('.Toastify__toast', { hasText: start }).first();
  const handle = await toast.elementHandle({ timeout: stallMs });
  if (!handle) {
    throw new Error(`No notification "${start}" appeared within ${stallMs / 1000} s.`);
  }
  let text = (await handle.textContent()) ?? '';
  const seen = [text];
  while (!done.test(text)) {
    // Resolves on the next change of the notification (or its removal), false when none comes in time.
    const changed = await handle.evaluate(
      (node, [before, ms]) =>
        new Promise<boolean>(resolve => {
          const check = (): boolean => !node.isConnected || node.textContent !== before;
          if (check()) {
            resolve(true);
            return;
          }
          const observer = new MutationObserver(() => {
            if (check()) {
              finish(true);
            }
          });
          const timer = setTimeout(() => finish(false), ms);
          const finish = (result: boolean): void => {
            clearTimeout(timer);
            observer.disconnect();
            resolve(result);
          };
          observer.observe(node.ownerDocument.body, { subtree: true, childList: true, characterData: true });
        }),
      [text, stallMs] as const
    );
    if (!changed) {
      throw new Error(`The notification stayed at "${text}" for ${stallMs / 1000} s (steps seen: ${seen.join(' → ')}).`);
    }
    if (!(await handle.evaluate(node => node.isConnected))) {
      // Replaced rather than updated: what replaced it is the outcome.
      return (await page.locator('.Toastify__toast', { hasText: done }).first().textContent({ timeout: stallMs })) ?? '';
    }
    text = (await handle.textContent()) ?? '';
    seen.push(text);
  }
  return text;
}
