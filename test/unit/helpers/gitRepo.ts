// git for tests, isolated from the user's and the machine's config, and small repositories.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type Git = (cwd: string, ...args: string[]) => string;

/** A git whose global config is `home`'s (empty) and which ignores the caller's GIT_* variables. */
export function isolatedGit(home: string): Git {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_')));
  const env = { ...inherited, GIT_CONFIG_NOSYSTEM: '1', HOME: home };
  return (cwd, ...args) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
}

/** `git init` on branch main with a test identity; commits `files` (path → content) when any are given. */
export function initRepo(git: Git, dir: string, files: Record<string, string | Buffer> = {}): void {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.name', 'Test');
  git(dir, 'config', 'user.email', 'test@example.com');
  const paths = Object.keys(files);
  if (!paths.length) return;
  for (const path of paths) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), files[path]);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
}
