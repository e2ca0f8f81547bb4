/**
 * Cold JupyterLab load over a slow link: direct Jupyter against the sidecar.
 *
 *   direct   plain `jupyter lab --port X --ip 127.0.0.1` on loopback TCP (no compression)
 *   sidecar  our CLI (`gpu-workspace serve`), Jupyter on its private Unix socket behind it
 *
 * Each load is Chromium (Debian's, through Playwright) in a fresh browser
 * context with its cache disabled and the link emulated over CDP
 * (Network.emulateNetworkConditions): 10 Mbit/s each way and 40 ms latency by
 * default. It opens /lab?token=… (the token login) and the clock stops when
 * JupyterLab's launcher is visible. Bytes on the wire are what Chromium
 * received for the page's HTTP requests (CDP encodedDataLength: headers and
 * bodies as sent, so compressed bodies count compressed).
 *
 * Loads alternate between the targets. The sidecar's first load after its
 * start is reported apart: it compresses the static assets while sending them
 * (the "first load"); later loads get the kept copies (the "steady state").
 *
 * Run from the repository root: `npm run bench:cold-load`. Knobs (environment):
 *   BENCH_COLD_RUNS        loads per target (3; the sidecar's first is reported apart)
 *   BENCH_COLD_MBIT        emulated link speed, Mbit/s each way (10)
 *   BENCH_COLD_LATENCY_MS  emulated latency, ms (40)
 *   BENCH_COLD_TIMEOUT_S   longest a load may take (180)
 *   BENCH_CHROMIUM         the browser (/usr/bin/chromium)
 *   BENCH_NO_BUILD=1       do not rebuild sidecar/dist when it is older than sidecar/src
 *
 * Prints a table and PASS/MISS per goal, writes bench/results/cold-load-latest.json,
 * and exits 0 whatever the verdicts (non-zero only when the benchmark itself fails).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { chromium, type Browser } from 'playwright-core';
import {
  benchEnv,
  cleanup,
  ensureSidecarBuilt,
  envNumber,
  freePort,
  JUPYTER,
  log,
  REPO,
  rssMb,
  scratch,
  SIDECAR_BIN,
  startProcess,
  TOKEN,
  waitForHttp,
  waitForLine,
  runBenchmark
} from './harness';

const SETTINGS = {
  runs: Math.floor(envNumber('BENCH_COLD_RUNS', 3, 2)),
  mbit: envNumber('BENCH_COLD_MBIT', 10, 0.1),
  latencyMs: envNumber('BENCH_COLD_LATENCY_MS', 40, 0),
  timeoutS: envNumber('BENCH_COLD_TIMEOUT_S', 180, 10),
  chromium: process.env.BENCH_CHROMIUM ?? '/usr/bin/chromium'
};

const GOALS = { timeVsDirect: 0.6, bytesVsDirect: 0.35 };
const RESULTS_FILE = path.join(REPO, 'bench', 'results', 'cold-load-latest.json');
/** JupyterLab's launcher: the page is usable once it shows. */
const LAUNCHER = '.jp-Launcher';

type TargetName = 'direct' | 'sidecar';

interface Load {
  target: TargetName;
  /** The sidecar's first load after its start (static assets not kept yet). */
  first: boolean;
  ms: number;
  bytes: number;
  requests: number;
  /** Requests whose body came compressed (br, gzip…). */
  compressed: number;
}

/** One cold load: fresh context, cache off, emulated link; resolves when the launcher shows. */
async function coldLoad(browser: Browser, origin: string): Promise<Omit<Load, 'target' | 'first'>> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const bytesPerS = (SETTINGS.mbit * 1e6) / 8;
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: SETTINGS.latencyMs,
      downloadThroughput: bytesPerS,
      uploadThroughput: bytesPerS
    });
    let bytes = 0;
    let requests = 0;
    let compressed = 0;
    cdp.on('Network.loadingFinished', e => {
      bytes += e.encodedDataLength;
      requests++;
    });
    cdp.on('Network.responseReceived', e => {
      const headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
      if (headers['content-encoding'] !== undefined && headers['content-encoding'] !== 'identity') {
        compressed++;
      }
    });
    const started = performance.now();
    await page.goto(`${origin}/lab?token=${TOKEN}`, { timeout: SETTINGS.timeoutS * 1000, waitUntil: 'commit' });
    await page.locator(LAUNCHER).first().waitFor({ state: 'visible', timeout: SETTINGS.timeoutS * 1000 });
    const ms = performance.now() - started;
    return { ms, bytes, requests, compressed };
  } finally {
    await context.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = (x: number, digits: number): string => x.toFixed(digits);

async function main(): Promise<void> {
  const began = Date.now();
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${JUPYTER} not found: create the repository's .venv with JupyterLab first.`);
  }
  if (!fs.existsSync(SETTINGS.chromium)) {
    throw new Error(`${SETTINGS.chromium} not found: install Chromium or set BENCH_CHROMIUM.`);
  }
  ensureSidecarBuilt();
  log(`settings: ${JSON.stringify(SETTINGS)}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cold-load-'));
  scratch.push(tmp);
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home, { recursive: true });
  const env = benchEnv(tmp);
  const configFile = path.join(tmp, 'sidecar-config.json');
  fs.writeFileSync(configFile, JSON.stringify({ log_level: 'warn' }));
  let browser: Browser | null = null;
  try {
    const [jupyterPort, sidecarPort] = [await freePort(), await freePort()];
    log('starting the direct Jupyter and the sidecar');
    const jupyter = startProcess(
      'direct-jupyter',
      JUPYTER,
      ['lab', '--no-browser', `--port=${jupyterPort}`, '--ip=127.0.0.1', '--allow-root', `--IdentityProvider.token=${TOKEN}`, `--ServerApp.root_dir=${home}`, '--ServerApp.port_retries=0'],
      env,
      home
    );
    const sidecar = startProcess(
      'sidecar',
      process.execPath,
      [SIDECAR_BIN, 'serve', '--port', String(sidecarPort), '--home', home, '--state-dir', path.join(tmp, 'state'), '--token', TOKEN, '--config', configFile],
      env,
      REPO
    );
    await Promise.all([
      waitForLine(sidecar, `http://127.0.0.1:${sidecarPort}/lab?token=${TOKEN}`, 'the sidecar'),
      waitForHttp(jupyter, jupyterPort, 'the direct Jupyter')
    ]);
    const rssBefore = rssMb(sidecar.pid)?.rss ?? null;
    log(`both ready; sidecar RSS ${rssBefore?.toFixed(1)} MB`);

    browser = await chromium.launch({
      executablePath: SETTINGS.chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic']
    });
    const origins: Record<TargetName, string> = { direct: `http://127.0.0.1:${jupyterPort}`, sidecar: `http://127.0.0.1:${sidecarPort}` };
    const loads: Load[] = [];
    let sidecarLoads = 0;
    for (let run = 0; run < SETTINGS.runs; run++) {
      // Alternate which goes first, so a drift in machine load hits both alike.
      const order: TargetName[] = run % 2 === 0 ? ['sidecar', 'direct'] : ['direct', 'sidecar'];
      for (const target of order) {
        const result = await coldLoad(browser, origins[target]);
        const load: Load = { target, first: target === 'sidecar' && sidecarLoads++ === 0, ...result };
        loads.push(load);
        log(
          `load ${run + 1}/${SETTINGS.runs} ${target}${load.first ? ' (first after start)' : ''}: ${fmt(load.ms / 1000, 2)} s, ` +
            `${fmt(load.bytes / 1e6, 2)} MB in ${load.requests} requests (${load.compressed} compressed)`
        );
      }
    }
    const rssAfter = rssMb(sidecar.pid)?.rss ?? null;

    const pick = (target: TargetName, first: boolean | null): Load[] => loads.filter(l => l.target === target && (first === null || l.first === first));
    const summary = (list: Load[]): { ms: number; bytes: number; requests: number; compressed: number } => ({
      ms: median(list.map(l => l.ms)),
      bytes: median(list.map(l => l.bytes)),
      requests: median(list.map(l => l.requests)),
      compressed: median(list.map(l => l.compressed))
    });
    const direct = summary(pick('direct', null));
    const steady = summary(pick('sidecar', false));
    const first = summary(pick('sidecar', true));

    const rows: [string, string, string, string, string, string][] = [
      ['figure', 'direct', 'sidecar', 'sidecar/direct', 'sidecar 1st load', '1st/direct'],
      ['time to launcher (s)', fmt(direct.ms / 1000, 2), fmt(steady.ms / 1000, 2), fmt(steady.ms / direct.ms, 3), fmt(first.ms / 1000, 2), fmt(first.ms / direct.ms, 3)],
      ['bytes on the wire (MB)', fmt(direct.bytes / 1e6, 2), fmt(steady.bytes / 1e6, 2), fmt(steady.bytes / direct.bytes, 3), fmt(first.bytes / 1e6, 2), fmt(first.bytes / direct.bytes, 3)],
      ['HTTP requests', fmt(direct.requests, 0), fmt(steady.requests, 0), '', fmt(first.requests, 0), ''],
      ['responses compressed', fmt(direct.compressed, 0), fmt(steady.compressed, 0), '', fmt(first.compressed, 0), '']
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)));
    const render = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    const verdicts = [
      { goal: `time to launcher <= ${GOALS.timeVsDirect}x direct`, pass: steady.ms / direct.ms <= GOALS.timeVsDirect, detail: `${fmt(steady.ms / direct.ms, 3)}x (${fmt(steady.ms / 1000, 2)} vs ${fmt(direct.ms / 1000, 2)} s)` },
      { goal: `bytes on the wire <= ${GOALS.bytesVsDirect}x direct`, pass: steady.bytes / direct.bytes <= GOALS.bytesVsDirect, detail: `${fmt(steady.bytes / direct.bytes, 3)}x (${fmt(steady.bytes / 1e6, 2)} vs ${fmt(direct.bytes / 1e6, 2)} MB)` },
      { goal: `first load after start: time <= ${GOALS.timeVsDirect}x direct`, pass: first.ms / direct.ms <= GOALS.timeVsDirect, detail: `${fmt(first.ms / direct.ms, 3)}x (${fmt(first.ms / 1000, 2)} s)` },
      { goal: `first load after start: bytes <= ${GOALS.bytesVsDirect}x direct`, pass: first.bytes / direct.bytes <= GOALS.bytesVsDirect, detail: `${fmt(first.bytes / direct.bytes, 3)}x (${fmt(first.bytes / 1e6, 2)} MB)` }
    ];
    const out = [
      '',
      `Cold-load benchmark — ${os.cpus().length} CPU(s), Node ${process.version}, load average ${os.loadavg().map(x => x.toFixed(2)).join(' ')}, ${new Date().toISOString()}`,
      `Chromium ${browser.version()}, fresh context, cache disabled, link ${SETTINGS.mbit} Mbit/s each way + ${SETTINGS.latencyMs} ms latency; ` +
        `${SETTINGS.runs} loads per target (medians; the sidecar's first load after its start apart)`,
      '',
      render(rows[0]),
      widths.map(w => '-'.repeat(w)).join('  '),
      ...rows.slice(1).map(render),
      '',
      `sidecar RSS: ${rssBefore?.toFixed(1)} MB before the loads, ${rssAfter?.toFixed(1)} MB after (the kept compressed assets are part of it)`,
      `loads (s / MB): ${loads.map(l => `${l.target}${l.first ? '*' : ''} ${fmt(l.ms / 1000, 2)}/${fmt(l.bytes / 1e6, 2)}`).join(', ')}   (* first after start)`,
      '',
      ...verdicts.map(v => `${v.pass ? 'PASS' : 'MISS'}  ${v.goal}: ${v.detail}`),
      ''
    ];
    process.stdout.write(out.join('\n') + '\n');
    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    fs.writeFileSync(
      RESULTS_FILE,
      JSON.stringify(
        {
          when: new Date().toISOString(),
          duration_seconds: Math.round((Date.now() - began) / 1000),
          machine: { cpus: os.cpus().length, node: process.version, chromium: browser.version(), load_average_at_end: os.loadavg() },
          settings: SETTINGS,
          summary: { direct, sidecar_steady: steady, sidecar_first: first },
          sidecar_rss_mb: { before: rssBefore, after: rssAfter },
          loads,
          goals: GOALS,
          verdicts,
          all_pass: verdicts.every(v => v.pass)
        },
        null,
        2
      ) + '\n'
    );
    log(`results written to ${path.relative(REPO, RESULTS_FILE)} (${Math.round((Date.now() - began) / 1000)} s in all)`);
  } finally {
    await browser?.close();
    await cleanup();
  }
}

runBenchmark(main);
