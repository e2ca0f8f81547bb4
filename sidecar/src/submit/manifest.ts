import * as fs from 'node:fs';
import * as path from 'node:path';
import { SubmitConfig } from '../config/schema';
import { patternProblem } from './patterns';

/**
 * Checks of the operator's submit section that the JSON schema cannot make:
 * every path and glob stays inside the home (checked as text, so none is
 * ever looked up), and the HTTP destination's URL parses. One line per
 * problem, naming the key.
 */
export function submitConfigProblems(submit: SubmitConfig): string[] {
  const problems: string[] = [];
  submit.required.forEach((pattern, i) => {
    const problem = patternProblem(pattern);
    if (problem) {
      problems.push(`submit.required[${i}]: "${pattern}" ${problem}`);
    }
  });
  submit.conversions.forEach((conversion, i) => {
    const problem = patternProblem(conversion.from);
    if (problem) {
      problems.push(`submit.conversions[${i}].from: "${conversion.from}" ${problem}`);
    }
  });
  const destination = submit.destination;
  if (submit.enabled && !submit.required.length && !submit.conversions.length) {
    problems.push('submit.required: name at least one file (or a conversion) when submit.enabled is true');
  }
  if (submit.enabled && !destination) {
    problems.push('submit.destination: required when submit.enabled is true (a directory, an HTTP endpoint or a command)');
  }
  if (destination?.type === 'http') {
    try {
      const url = new URL(destination.url);
      if (url.username || url.password) {
        problems.push('submit.destination.url: must not carry a user or password; the token is sent as "Authorization: Bearer"');
      }
    } catch {
      problems.push(`submit.destination.url: "${destination.url}" is not a URL`);
    }
  }
  return problems;
}

/** Whether `inner` is `outer` or inside it, after resolving the links of whatever part exists. */
function within(inner: string, outer: string): boolean {
  const real = (p: string): string => {
    let at = path.resolve(p);
    const rest: string[] = [];
    for (;;) {
      try {
        return path.join(fs.realpathSync(at), ...rest);
      } catch {
        const parent = path.dirname(at);
        if (parent === at) {
          return path.join(at, ...rest);
        }
        rest.unshift(path.basename(at));
        at = parent;
      }
    }
  };
  const a = real(inner);
  const b = real(outer);
  return a === b || a.startsWith(b + path.sep);
}

/**
 * Checks that need the home folder: an exchange folder inside the home would
 * let the user write or rewrite delivered submissions.
 */
export function submitHomeProblems(submit: SubmitConfig, home: string): string[] {
  const destination = submit.destination;
  if (destination?.type === 'directory' && within(destination.path, home)) {
    return [`submit.destination.path: ${destination.path} must be outside the home folder ${home} (users could change what was delivered)`];
  }
  return [];
}

/**
 * The program that runs nbconvert: the operator's, else the `jupyter` beside
 * the program that starts JupyterLab (the workspace's own environment), else
 * `jupyter` on the workspace's PATH.
 */
export function nbconvertCommand(configured: string[], jupyterCommand: string[]): string[] {
  if (configured.length) {
    return configured;
  }
  const program = jupyterCommand[0] ?? 'jupyter';
  const base = path.basename(program);
  if (base === 'jupyter') {
    return [program, 'nbconvert'];
  }
  if (/^jupyter-/.test(base) && path.isAbsolute(program)) {
    return [path.join(path.dirname(program), 'jupyter'), 'nbconvert'];
  }
  return ['jupyter', 'nbconvert'];
}
