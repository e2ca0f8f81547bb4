/**
 * Name globs (*, ?, [abc], [!abc]) as the operator writes them in config
 * (snapshot and submit excludes, reset template excludes, submit's required
 * files): one reading of a pattern wherever the sidecar matches one.
 */

/** An exclude pattern (a name glob: *, ?, [abc]) as a regular expression over one name. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, ch => `\\${ch}`);
  }
  return new RegExp(`^${out}$`);
}
