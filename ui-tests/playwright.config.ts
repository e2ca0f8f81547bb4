import { defineConfig } from '@playwright/test';

export const PORT = Number(process.env.UI_TEST_PORT ?? 8899);
export const TOKEN = process.env.UI_TEST_TOKEN ?? 'ui-test-token';

/**
 * Galata against the real sidecar (which starts the real Jupyter server), in
 * Debian's Chromium. Playwright cannot download browsers here.
 */
export default defineConfig({
  testDir: './tests',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    // Galata's REST helpers (temp folders, kernels) authenticate with the token; the
    // cookie + XSRF path a person takes is exercised by its own test.
    extraHTTPHeaders: { Authorization: `token ${TOKEN}` },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'bash start-workspace.sh',
    url: `http://127.0.0.1:${PORT}/gpu-workspace/api/v1/health`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { UI_TEST_PORT: String(PORT), UI_TEST_TOKEN: TOKEN }
  }
});
