import { defineConfig } from '@playwright/test';

export const PORT = Number(process.env.UI_TEST_PORT ?? 8899);
export const GPU_PORT = Number(process.env.UI_TEST_GPU_PORT ?? 8898);
export const IDLE_PORT = Number(process.env.UI_TEST_IDLE_PORT ?? 8897);
export const PROJECT_PORT = Number(process.env.UI_TEST_PROJECT_PORT ?? 8896);
export const TOKEN = process.env.UI_TEST_TOKEN ?? 'ui-test-token';

const server = (variant: 'plain' | 'gpu' | 'idle' | 'project', port: number) => ({
  command: `bash start-workspace.sh ${variant}`,
  // Ready means Jupyter answers, not just the sidecar: the sidecar's /health is up before Jupyter
  // has started, and tests begun then race Jupyter's cold start. Jupyter's own unauthenticated
  // GET /api, through the sidecar, answers 200 only once Jupyter runs (the sidecar holds the
  // request while Jupyter starts, then says 503, and Playwright asks again).
  url: `http://127.0.0.1:${port}/api`,
  timeout: 180_000,
  reuseExistingServer: false,
  stdout: 'pipe' as const,
  stderr: 'pipe' as const,
  env: { UI_TEST_PORT: String(port), UI_TEST_TOKEN: TOKEN }
});

/**
 * Galata against the real sidecar (which starts the real Jupyter server), in
 * Debian's Chromium. Playwright cannot download browsers here. Four workspaces:
 * this machine as it is (no GPU), one whose nvidia-smi is the test stand-in, one
 * that stops after seconds of inactivity, and a course project (Reset Data with an
 * operator template; Submit Project into an exchange folder).
 */
export default defineConfig({
  testDir: './tests',
  timeout: 150_000,
  expect: { timeout: 30_000 },
  retries: 0,
  workers: 1,
  reporter: [['list'], ['./failure-summary.ts']],
  use: {
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
  projects: [
    { name: 'workspace', testMatch: ['workspace.spec.ts', 'snapshots.spec.ts', 'submit-off.spec.ts'], use: { baseURL: `http://127.0.0.1:${PORT}` } },
    { name: 'gpu', testMatch: 'gpu.spec.ts', use: { baseURL: `http://127.0.0.1:${GPU_PORT}` } },
    { name: 'idle', testMatch: 'idle.spec.ts', use: { baseURL: `http://127.0.0.1:${IDLE_PORT}` } },
    { name: 'project', testMatch: ['reset.spec.ts', 'submit.spec.ts'], use: { baseURL: `http://127.0.0.1:${PROJECT_PORT}` } }
  ],
  webServer: [server('plain', PORT), server('gpu', GPU_PORT), server('idle', IDLE_PORT), server('project', PROJECT_PORT)]
});
