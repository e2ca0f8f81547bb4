/**
 * The pages the sidecar serves at every page URL while the workspace is
 * stopped for inactivity. Self-contained (no scripts or styles from
 * elsewhere: Jupyter is down), with the one thing to do: Start.
 */

export interface StoppedPageInput {
  /** When the workspace stopped (ISO). */
  stoppedAt: string | null;
  timeoutMinutes: number;
  /** Where the sidecar API lives, e.g. "/user/alice/gpu-workspace/api/v1". */
  apiPrefix: string;
  /** Whether a start is already under way. */
  starting: boolean;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

const STYLE = `
body { font-family: var(--jp-ui-font-family, system-ui, sans-serif); color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff); margin: 0; display: flex; min-height: 100vh; align-items: center; justify-content: center; }
main { max-width: 36rem; padding: 2rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
p { line-height: 1.5; }
button { font: inherit; font-size: 1.1rem; padding: 0.5rem 1.5rem; border-radius: 4px; border: 0; cursor: pointer;
  background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); }
button:focus-visible { outline: 2px solid var(--jp-brand-color0, #0d47a1); outline-offset: 2px; }
button[disabled] { opacity: 0.6; cursor: progress; }
#progress { min-height: 1.5em; }
@media (prefers-color-scheme: dark) {
  body { color: #e0e0e0; background: #111; }
  button { background: #42a5f5; color: #111; }
  button:focus-visible { outline-color: #90caf9; }
}
`;

function minutes(m: number): string {
  if (m < 1) {
    const s = Math.round(m * 60);
    return `${s} second${s === 1 ? '' : 's'}`;
  }
  const r = Math.round(m * 10) / 10;
  return `${r} minute${r === 1 ? '' : 's'}`;
}

/** The stopped page, for the workspace's user. */
export function stoppedPage(input: StoppedPageInput): string {
  const when = input.stoppedAt ? escapeHtml(input.stoppedAt) : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Workspace stopped</title><style>${STYLE}</style></head>
<body><main>
<h1>This workspace was stopped because nothing was happening</h1>
<p id="what">Nothing happened in it for ${escapeHtml(minutes(input.timeoutMinutes))}, so it was stopped${when ? ` at <time id="stopped-at" datetime="${when}">${when}</time>` : ''}.</p>
<p><strong>Your files are safe.</strong> Variables and anything else held in kernel memory are gone: run your notebooks again to get them back.</p>
<p><button id="start" type="button"${input.starting ? ' disabled' : ''}>Start</button></p>
<p id="progress" role="status" aria-live="polite">${input.starting ? 'Starting…' : ''}</p>
</main>
<script>
(function () {
  var config = ${scriptJson({ api: input.apiPrefix, starting: input.starting })};
  var button = document.getElementById('start');
  var progress = document.getElementById('progress');
  var at = document.getElementById('stopped-at');
  if (at) { at.textContent = new Date(at.getAttribute('datetime')).toLocaleString(); }
  var token = new URLSearchParams(location.search).get('token');
  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function headers() {
    var h = { 'Content-Type': 'application/json' };
    if (token) { h.Authorization = 'token ' + token; }
    var xsrf = cookie('_xsrf');
    if (xsrf) { h['X-XSRFToken'] = xsrf; }
    return h;
  }
  function fail(message) {
    progress.textContent = message;
    button.disabled = false;
  }
  function waitForRunning() {
    fetch(config.api + '/status', { headers: headers(), credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.jupyter.state === 'running' && s.idle.state !== 'stopped') {
          progress.textContent = 'Started. Opening your workspace…';
          location.reload();
        } else if (s && s.idle.state === 'stopped' && !s.idle.starting && s.jupyter.last_error) {
          fail('The workspace could not be started: ' + s.jupyter.last_error);
        } else {
          setTimeout(waitForRunning, 500);
        }
      }, function () { setTimeout(waitForRunning, 1000); });
  }
  function start() {
    button.disabled = true;
    progress.textContent = 'Starting…';
    fetch(config.api + '/server/start', { method: 'POST', headers: headers(), credentials: 'same-origin', body: '{}' })
      .then(function (r) {
        if (r.ok) { waitForRunning(); return; }
        return r.json().then(function (b) { fail(b.message || ('The start was refused (' + r.status + ').')); });
      }, function () { fail('The workspace service could not be reached. Try again in a moment.'); });
  }
  button.addEventListener('click', start);
  if (config.starting) { waitForRunning(); }
})();
</script>
</body></html>
`;
}

/** For anyone without the workspace's credentials: nothing about the workspace. */
export function loginNeededPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>Log in</title><style>${STYLE}</style></head>
<body><main><h1>Log in needed</h1>
<p>Open this workspace with the link that carries its token to go on.</p></main></body></html>
`;
}
