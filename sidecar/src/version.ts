import * as fs from 'node:fs';
import * as path from 'node:path';

/** The sidecar's version, read from its package.json (works from dist/ and from src/ under tsx). */
export const VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

/** Bumped only on breaking API changes; the path segment /api/v1 follows it. */
export const API_VERSION = 1;
