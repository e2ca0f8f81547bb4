import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunAs } from '../jupyter/launch';
import { prepareWorkArea } from '../state/privateDir';
import { giveToUser } from './homeFiles';
import { ResticError, ResticRepo, RunOptions, runRestic } from './restic';

export interface RepoLayout extends ResticRepo {
  /** The snapshot engine's folder in the state directory: restic's working folder (root's, 0711). */
  root: string;
  /**
   * Restores land here first, one folder each (the user's). A work area of its own (root's, 0711), apart
   * from the repository: a process of the user that kept a folder open as a whole restore moved it aside
   * into staging can climb from it with "..", and must find nothing but staging there.
   */
  stagingDir: string;
  /** The home folder the sidecar snapshots, so that the CLI can take a snapshot of the same one. */
  homeFile: string;
}

/** Where the snapshot repository lives inside the state directory. */
export function repoLayout(stateDir: string, program = 'restic', runAs: RunAs | null = null): RepoLayout {
  const root = path.join(path.resolve(stateDir), 'snapshots');
  return {
    program,
    root,
    workDir: root,
    repository: path.join(root, 'repo'),
    cacheDir: path.join(root, 'cache'),
    tmpDir: path.join(root, 'tmp'),
    stagingDir: path.join(path.resolve(stateDir), 'staging'),
    homeFile: path.join(root, 'home'),
    passwordFile: path.join(path.resolve(stateDir), 'secrets', 'restic-password'),
    runAs
  };
}

/** The repository cannot be used; the message says why and what to do, for the operator and the user. */
export class RepositoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepositoryError';
  }
}

function repositoryExists(repo: ResticRepo): boolean {
  return fs.existsSync(path.join(repo.repository, 'config'));
}

function readPassword(file: string): string | null {
  try {
    const value = fs.readFileSync(file, 'utf8');
    return value.trim() ? value : null;
  } catch {
    return null;
  }
}

/**
 * The folders restic runs in and works on. The engine's folder is root's and
 * 0711: restic, run as the notebook user with it as the working folder,
 * passes through it to the repository, cache and temporary folders (the
 * user's, 0700), which it names by relative paths. The staging area (root's,
 * 0711) is a work area of its own beside it. That the user's own
 * processes cannot reach them by name rests on the state directory above
 * being root's alone, so that is made sure of here (its group and other
 * permissions are taken away). Folders left by a root restic (before the
 * workspace had a notebook user) are given to the user: lchown, never
 * following a link; the tree is out of the user's reach, so nothing can be
 * swapped in during the walk.
 */
export function prepareFolders(repo: RepoLayout): void {
  try {
    prepareWorkArea(repo.root, repo.runAs !== null);
  } catch (err) {
    throw new RepositoryError(`The snapshot folder cannot be prepared: ${(err as Error).message}`);
  }
  for (const dir of [repo.repository, repo.cacheDir, repo.tmpDir]) {
    fs.mkdirSync(dir, { mode: 0o700, recursive: true });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) {
      throw new RepositoryError(`${dir} is not a folder; it is left alone.`);
    }
    // No process of the user ever has a way into these (restic, the only one in them, is a helper): walked as root.
    giveToUser(dir, repo.runAs);
  }
  try {
    prepareWorkArea(repo.stagingDir, repo.runAs !== null);
  } catch (err) {
    throw new RepositoryError(`The restore staging folder cannot be prepared: ${(err as Error).message}`);
  }
}

/**
 * Opens the workspace's repository, creating it (and its password, 0600, in
 * the secrets folder) on first use. An existing repository is never
 * initialised again: with its password missing or wrong, this fails with
 * a message instead, because a fresh `init` would orphan every snapshot.
 * Stale locks (left by a killed restic) are cleared here, at start.
 */
export async function openRepository(repo: RepoLayout, options: { create: boolean; run?: RunOptions }): Promise<void> {
  const exists = repositoryExists(repo);
  const password = readPassword(repo.passwordFile);
  if (exists && password === null) {
    throw new RepositoryError(
      `The snapshot repository ${repo.repository} exists, but its password file ${repo.passwordFile} is missing or empty. ` +
        'Put the original password file back; the repository is never re-initialised over existing snapshots.'
    );
  }
  if (!exists && !options.create) {
    throw new RepositoryError(`There is no snapshot repository in ${repo.repository} yet: start the workspace once to create it.`);
  }
  if (!exists && fs.existsSync(repo.repository) && fs.readdirSync(repo.repository).length > 0) {
    throw new RepositoryError(
      `${repo.repository} holds files but no restic repository config; it is left alone. Move it away to start a fresh repository.`
    );
  }
  prepareFolders(repo);
  if (!exists) {
    if (password === null) {
      fs.writeFileSync(repo.passwordFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    }
    await runRestic(repo, ['init'], options.run);
  }
  try {
    // Removes only locks whose process is gone (or that are old); a live restic keeps its own.
    await runRestic(repo, ['unlock'], options.run);
    await runRestic(repo, ['cat', 'config'], options.run);
  } catch (err) {
    if (err instanceof ResticError && err.wrongPassword) {
      throw new RepositoryError(
        `The password in ${repo.passwordFile} does not open the snapshot repository ${repo.repository}. ` +
          'Put the original password file back; the repository is never re-initialised over existing snapshots.'
      );
    }
    throw new RepositoryError(`The snapshot repository ${repo.repository} cannot be opened: ${(err as Error).message}`);
  }
}
