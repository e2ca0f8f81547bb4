import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ResticError, ResticRepo, runRestic } from './restic';

/** Where the snapshot repository lives inside the state directory. */
export function repoLayout(stateDir: string, program = 'restic'): ResticRepo & { root: string; stagingDir: string; homeFile: string } {
  const root = path.join(path.resolve(stateDir), 'snapshots');
  return {
    program,
    root,
    repository: path.join(root, 'repo'),
    cacheDir: path.join(root, 'cache'),
    stagingDir: path.join(root, 'staging'),
    // The home folder the sidecar snapshots, so that the CLI can take a snapshot of the same one.
    homeFile: path.join(root, 'home'),
    passwordFile: path.join(path.resolve(stateDir), 'secrets', 'restic-password')
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
 * Opens the workspace's repository, creating it (and its password, 0600, in
 * the secrets folder) on first use. An existing repository is never
 * initialised again: with its password missing or wrong, this fails with
 * a message instead, because a fresh `init` would orphan every snapshot.
 * Stale locks (left by a killed restic) are cleared here, at start.
 */
export async function openRepository(repo: ResticRepo & { root: string }, options: { create: boolean }): Promise<void> {
  const exists = repositoryExists(repo);
  const password = readPassword(repo.passwordFile);
  if (exists && password === null) {
    throw new RepositoryError(
      `The snapshot repository ${repo.repository} exists, but its password file ${repo.passwordFile} is missing or empty. ` +
        'Put the original password file back; the repository is never re-initialised over existing snapshots.'
    );
  }
  if (!exists) {
    if (!options.create) {
      throw new RepositoryError(`There is no snapshot repository in ${repo.repository} yet: start the workspace once to create it.`);
    }
    if (fs.existsSync(repo.repository) && fs.readdirSync(repo.repository).length > 0) {
      throw new RepositoryError(
        `${repo.repository} holds files but no restic repository config; it is left alone. Move it away to start a fresh repository.`
      );
    }
    fs.mkdirSync(repo.root, { recursive: true, mode: 0o700 });
    if (password === null) {
      fs.writeFileSync(repo.passwordFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    }
    await runRestic(repo, ['init']);
  }
  fs.mkdirSync(repo.cacheDir, { recursive: true, mode: 0o700 });
  try {
    // Removes only locks whose process is gone (or that are old); a live restic keeps its own.
    await runRestic(repo, ['unlock']);
    await runRestic(repo, ['cat', 'config']);
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
