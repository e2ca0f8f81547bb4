import * as path from 'node:path';
import { badRequest } from '../errors';

/**
 * A path a user names inside the home folder ("data/run1.csv"), checked as
 * text: relative, no "..", no NUL. Returns it normalised ("a/b"), or "" for
 * the home folder itself when `allowRoot`.
 */
export function parseHomePath(input: unknown, options: { allowRoot?: boolean } = {}): string {
  if (typeof input !== 'string') {
    throw badRequest('"path" must be a path relative to the home folder, e.g. "notebooks/analysis.ipynb".');
  }
  if (input.includes('\0') || input.length > 4096) {
    throw badRequest('"path" is not a valid file name.');
  }
  if (input.startsWith('/') || path.isAbsolute(input)) {
    throw badRequest(`"${input}" is an absolute path; name a path relative to the home folder.`);
  }
  const parts = input.split('/').filter(p => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw badRequest(`"${input}" leaves the home folder ("..").`);
  }
  if (!parts.length && !options.allowRoot) {
    throw badRequest('"path" must name a file or folder inside the home folder.');
  }
  return parts.join('/');
}
