import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { StartupError } from '../errors';

/** The Unix account Jupyter, its kernels and terminals run as. */
export interface NotebookUser {
  name: string;
  uid: number;
  gid: number;
  /** Supplementary groups from the group database (the device group may be among them). */
  groups: number[];
  shell: string;
}

function getent(database: 'passwd' | 'group', key: string): string[] | null {
  try {
    const line = execFileSync('getent', [database, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return line ? line.split('\n')[0].split(':') : null;
  } catch {
    // getent exits 2 when the key is not found.
    return null;
  }
}

/** Looks a user up in the system's databases (files, LDAP, whatever NSS is set up with). */
export function lookupUser(name: string): NotebookUser {
  const passwd = getent('passwd', name);
  if (!passwd) {
    throw new StartupError(
      `jupyter.user is "${name}", but no such user exists on this machine. Create it (useradd -m ${name}) or set jupyter.user to an existing user.`
    );
  }
  const uid = Number(passwd[2]);
  const gid = Number(passwd[3]);
  let groups: number[] = [];
  try {
    groups = execFileSync('id', ['-G', name], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter(g => Number.isInteger(g) && g !== gid);
  } catch {
    // No supplementary groups can be read: the user gets its primary group only.
  }
  return { name, uid, gid, groups, shell: passwd[6] || '/bin/sh' };
}

/** A group's id, or a StartupError that names the config key. */
export function lookupGroup(name: string, key: string): number {
  const entry = getent('group', name);
  if (!entry) {
    throw new StartupError(`${key} is "${name}", but no such group exists on this machine.`);
  }
  return Number(entry[2]);
}

/**
 * The home folder for the notebook user: created for them when missing; an
 * existing one must already be theirs (never silently chowned: it may be
 * someone else's data).
 */
export function prepareHome(home: string, user: NotebookUser): void {
  if (!fs.existsSync(home)) {
    fs.mkdirSync(home, { recursive: true, mode: 0o755 });
    fs.chownSync(home, user.uid, user.gid);
    return;
  }
  const st = fs.statSync(home);
  if (st.uid !== user.uid) {
    throw new StartupError(
      `The home folder ${home} belongs to uid ${st.uid}, not to jupyter.user "${user.name}" (uid ${user.uid}). ` +
        `Give it to that user (chown -R ${user.name} ${home}) or choose another --home.`
    );
  }
}
