/**
 * `node archiveMain.js HOME EXCLUDE_JSON`: writes the home as a zip to
 * stdout. The sidecar runs this as the notebook user (setpriv), so that a
 * link swapped into the home while the zip is written can only lead to files
 * that user may read anyway, never to root's.
 */
import { streamHomeZip } from './archive';

const [home, exclude] = process.argv.slice(2);
streamHomeZip(home, JSON.parse(exclude ?? '[]') as string[], process.stdout).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
