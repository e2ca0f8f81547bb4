import { globToRegExp } from '../glob';

/**
 * The operator's paths and globs (`submit.required`, a conversion's `from`),
 * relative to the home folder. They are checked as text when the config is
 * loaded: one that could name a file outside the home never gets as far as
 * the file system.
 */

/** A pattern split into its names; "**" stands for any number of folders. */
export type HomePattern = readonly string[];

const WILDCARD = /[*?[]/;

/** Why a pattern cannot be used, or null when it can. */
export function patternProblem(pattern: string): string | null {
  if (pattern.includes('\0')) {
    return 'contains a NUL character';
  }
  if (pattern.startsWith('/')) {
    return 'is an absolute path: name files relative to the home folder';
  }
  if (pattern.startsWith('~')) {
    return 'starts with "~": name files relative to the home folder, without "~/"';
  }
  if (pattern.includes('\\')) {
    return 'contains a backslash: separate folders with "/"';
  }
  const parts = pattern.split('/');
  if (parts.includes('..')) {
    return 'leaves the home folder ("..")';
  }
  if (!parts.some(p => p !== '' && p !== '.')) {
    return 'names the home folder itself, not files in it';
  }
  for (const part of parts) {
    if (part.includes('**') && part !== '**') {
      return `"${part}": "**" must be a whole name between slashes, as in "notebooks/**/*.ipynb"`;
    }
  }
  return null;
}

/** Splits a checked pattern into its names (empty names and "." dropped, repeated "**" merged). */
export function parsePattern(pattern: string): HomePattern {
  const problem = patternProblem(pattern);
  if (problem) {
    throw new Error(`"${pattern}" ${problem}`);
  }
  const parts: string[] = [];
  for (const part of pattern.split('/')) {
    if (part === '' || part === '.' || (part === '**' && parts[parts.length - 1] === '**')) {
      continue;
    }
    parts.push(part);
  }
  return parts;
}

/** Whether a name of a pattern is a wildcard (else it is a literal file or folder name). */
export function isWildcard(part: string): boolean {
  return WILDCARD.test(part);
}

/**
 * Matches one name against one name of a pattern. Wildcards do not match
 * names that start with a dot, as in the shell: "**" and "*" must not drag
 * .git or .ipynb_checkpoints into a submission unless the operator names them.
 */
export function matchesName(part: string, name: string): boolean {
  if (!isWildcard(part)) {
    return part === name;
  }
  if (name.startsWith('.') && !part.startsWith('.')) {
    return false;
  }
  return globToRegExp(part).test(name);
}

/** The file a conversion writes for a source, relative to the home: "a/b.ipynb" → "a/b.html". */
export function conversionOutput(source: string, to: 'html'): string {
  const slash = source.lastIndexOf('/');
  const name = source.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return `${source.slice(0, slash + 1)}${stem}.${to}`;
}
