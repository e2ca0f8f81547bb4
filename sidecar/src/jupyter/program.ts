import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The executable file `program` names, as exec would find it: directly
 * (relative to `cwd`) when it holds a slash, else through `searchPath`;
 * null when there is none. Used where a launcher in between (setpriv, sh)
 * would otherwise turn "no such program" into a less helpful error.
 */
export function findProgram(program: string, searchPath: string | undefined, cwd: string): string | null {
  const candidates = program.includes('/')
    ? [path.resolve(cwd, program)]
    : (searchPath ?? '').split(path.delimiter).filter(Boolean).map(dir => path.join(dir, program));
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) {
        return file;
      }
    } catch {
      // Not here.
    }
  }
  return null;
}
