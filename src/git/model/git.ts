// Ties every run to the exact code it ran. Before a launch: HEAD, branch, remote and a dirty flag;
// when the working tree differs from HEAD, a snapshot commit of it (untracked, non-ignored files
// included) made through a temporary index file, so the user's index, working tree and stash are
// never touched, and kept alive by refs/pacs/runs/<run id>.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { simpleGit } from 'simple-git';
import type { SimpleGit } from 'simple-git';
import type { RunGitInfo, RunInfo } from '../../run/model/runFormat';

/** What the launcher does with uncommitted work (setting `pacs.git.onDirty`). */
export type GitMode = 'snapshot' | 'warn' | 'block' | 'ignore';
export const GIT_MODES: readonly GitMode[] = ['snapshot', 'warn', 'block', 'ignore'];

export interface GitCapture {
  /** Null outside a repository (then `warning` says so). */
  git: RunGitInfo | null;
  /** `git diff --binary` from HEAD to the working tree, untracked files included; '' when clean. */
  patch: string;
  /** One line for the user when something deserves attention (not a repository, uncommitted work). */
  warning?: string;
  /** The repository's top-level folder, or null. */
  repoRoot: string | null;
}

/** Refusal to launch from a dirty tree under `onDirty: block`; the message is for the user. */
export class GitDirtyError extends Error {
  constructor(
    message: string,
    readonly files: string[],
  ) {
    super(message);
    this.name = 'GitDirtyError';
  }
}

const ENV_ALLOWED = ['GIT_INDEX_FILE', 'GIT_OPTIONAL_LOCKS', 'GIT_TERMINAL_PROMPT', 'GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'];
const FALLBACK_IDENTITY = { name: 'PACS Lab', email: 'pacs-lab@localhost' };

function gitAt(dir: string, env?: Record<string, string>): SimpleGit {
  const git = simpleGit({ baseDir: dir, allowEnvironment: ENV_ALLOWED, trimmed: false });
  // Never let a pager, a prompt or an optional lock (git status refreshing the index) get in.
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GIT_')) base[k] = v;
  return git.env({ ...base, GIT_OPTIONAL_LOCKS: '0', GIT_TERMINAL_PROMPT: '0', ...env });
}

async function raw(git: SimpleGit, args: string[]): Promise<string> {
  return (await git.raw(args)).trim();
}

/** The trimmed output, or null on failure or empty output (simple-git resolves a failing command that prints nothing). */
async function tryRaw(git: SimpleGit, args: string[]): Promise<string | null> {
  try {
    return (await raw(git, args)) || null;
  } catch {
    return null;
  }
}

/** The repository's top-level folder containing `dir`, or null outside a repository. */
export async function repoRootOf(dir: string): Promise<string | null> {
  const found = await findRepoRoot(dir);
  return 'root' in found ? found.root : null;
}

/** The top-level folder, or why there is none ("not a git repository", "dubious ownership", git missing). */
async function findRepoRoot(dir: string): Promise<{ root: string } | { reason: string }> {
  try {
    const top = await raw(gitAt(dir), ['rev-parse', '--show-toplevel']);
    return top ? { root: resolve(top) } : { reason: 'not in a git repository' };
  } catch (err) {
    const message = (err as Error).message;
    if (/not a git repository/i.test(message)) return { reason: 'not in a git repository' };
    return { reason: `not usable as a git repository (${message.trim().split('\n')[0]})` };
  }
}

/** The commit holding a run's code: its snapshot when it had uncommitted work, else its commit. */
export function runCodeSha(git: RunGitInfo | null): string | null {
  return git?.snapshot ?? git?.commit ?? null;
}

/**
 * Writes the working tree (tracked and untracked, non-ignored files) as a tree object through a
 * temporary index and returns its sha. The temporary index starts as a copy of the user's index
 * (stat data makes `git add -A` fast on large repositories, and staged files are kept even when
 * ignored), or empty without one.
 */
export async function writeWorkingTree(repoRoot: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), 'pacs-index-'));
  try {
    const indexFile = join(tmp, 'index');
    const git = gitAt(repoRoot);
    const userIndex = resolve(repoRoot, await raw(git, ['rev-parse', '--git-path', 'index']));
    await copyFile(userIndex, indexFile).catch(() => undefined);
    const tmpGit = gitAt(repoRoot, { GIT_INDEX_FILE: indexFile });
    await raw(tmpGit, ['add', '-A', '--', '.']);
    return await raw(tmpGit, ['write-tree']);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The empty tree's sha in this repository's hash format. */
async function emptyTree(repoRoot: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), 'pacs-index-'));
  try {
    return await raw(gitAt(repoRoot, { GIT_INDEX_FILE: join(tmp, 'index') }), ['write-tree']);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function identityEnv(git: SimpleGit): Promise<Record<string, string>> {
  const name = await tryRaw(git, ['config', 'user.name']);
  const email = await tryRaw(git, ['config', 'user.email']);
  const env: Record<string, string> = {};
  if (!name) Object.assign(env, { GIT_AUTHOR_NAME: FALLBACK_IDENTITY.name, GIT_COMMITTER_NAME: FALLBACK_IDENTITY.name });
  if (!email) Object.assign(env, { GIT_AUTHOR_EMAIL: FALLBACK_IDENTITY.email, GIT_COMMITTER_EMAIL: FALLBACK_IDENTITY.email });
  return env;
}

/**
 * Records the code a run is launched from (see the file comment). `cwd` is any folder inside the
 * repository (the config's folder). Modes: `snapshot` saves uncommitted work silently; `warn`
 * saves it and returns a warning; `block` throws GitDirtyError; `ignore` records HEAD and the
 * dirty flag only (no snapshot, empty patch). Outside a repository: `git: null` and a warning.
 */
export async function captureGit(cwd: string, runId: string, mode: GitMode): Promise<GitCapture> {
  const found = await findRepoRoot(cwd);
  if (!('root' in found)) {
    return { git: null, patch: '', repoRoot: null, warning: `${cwd} is ${found.reason}: the run will not be tied to a commit.` };
  }
  const repoRoot = found.root;
  const git = gitAt(repoRoot);
  const head = await tryRaw(git, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']);
  const branch = await tryRaw(git, ['symbolic-ref', '--short', '-q', 'HEAD']);
  const remote = await defaultRemoteUrl(git);
  const tree = await writeWorkingTree(repoRoot);
  const base = head ? await raw(git, ['rev-parse', `${head}^{tree}`]) : await emptyTree(repoRoot);
  const dirty = tree !== base;
  const ref = runRef(runId);
  const info: RunGitInfo = { commit: head, branch: branch || null, remote, dirty, snapshot: null, ref: null };

  if (dirty && mode === 'block') {
    const files = (await raw(git, ['diff', '--name-only', '-z', '--no-renames', base, tree])).split('\0').filter(Boolean);
    const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? `, and ${files.length - 5} more` : '');
    throw new GitDirtyError(
      `Uncommitted changes in ${repoRoot} (${shown}); the setting pacs.git.onDirty is "block". ` +
        'Commit or stash them, or set pacs.git.onDirty to "snapshot" to save them with the run.',
      files,
    );
  }

  let patch = '';
  let keep = head;
  if (dirty && mode !== 'ignore') {
    const parents = head ? ['-p', head] : [];
    const commitGit = gitAt(repoRoot, await identityEnv(git));
    info.snapshot = await raw(commitGit, ['commit-tree', tree, ...parents, '-m', `pacs run ${runId}`]);
    keep = info.snapshot;
    patch = await git.raw(['diff', '--binary', '--no-color', '--no-ext-diff', '--no-textconv', base, tree]);
  }
  if (keep) {
    await raw(git, ['update-ref', ref, keep]);
    info.ref = ref;
  }
  let warning: string | undefined;
  if (dirty && mode === 'warn') {
    warning = `Uncommitted changes in ${repoRoot}: saved with the run as snapshot ${info.snapshot?.slice(0, 8)} (${ref}).`;
  } else if (!head && !keep) {
    warning = `${repoRoot} has no commits and no files: the run is not tied to any code.`;
  }
  return { git: info, patch, warning, repoRoot };
}

async function defaultRemoteUrl(git: SimpleGit): Promise<string | null> {
  const origin = await tryRaw(git, ['config', '--get', 'remote.origin.url']);
  if (origin) return origin;
  const remotes = (await tryRaw(git, ['remote']))?.split('\n').filter(Boolean) ?? [];
  return remotes.length ? await tryRaw(git, ['config', '--get', `remote.${remotes[0]}.url`]) : null;
}

function requireSha(runInfo: Pick<RunInfo, 'git' | 'id'>): string {
  const sha = runCodeSha(runInfo.git);
  if (!sha) throw new Error(`Run ${runInfo.id} was not launched from a git repository: there is no code to restore.`);
  // run.json is untrusted: only an object name reaches git, never an option or a revision expression.
  if (!SHA.test(sha)) {
    throw new Error(`Run ${runInfo.id}: run.json's git commit is ${JSON.stringify(sha).slice(0, 80)}, not a commit sha (40 or 64 hex digits); the run.json was edited or crafted.`);
  }
  return sha;
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** A run id as a folder name and a ref name component: no separators, no `..`, no leading `-` or `.`. */
const RUN_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** The ref that keeps a run's code alive: the only ref PACS Lab makes, so the only one it deletes. */
export function runRef(runId: string): string {
  return `refs/pacs/runs/${runId}`;
}

/**
 * Deletes the run's ref. `ref` comes from run.json, which is untrusted: anything but
 * `refs/pacs/runs/<the run's own id>` is refused with an Error for the user (HEAD or a branch
 * name would delete the user's work), and nothing is run.
 */
export async function deleteRunRef(repoRoot: string, runId: string, ref: unknown): Promise<void> {
  if (!RUN_ID.test(runId) || runId.includes('..') || ref !== runRef(runId)) {
    throw new Error(
      `run.json names the ref ${JSON.stringify(ref)?.slice(0, 80)}; PACS Lab only deletes ${runRef(runId)}, the ref it made for this run, so it left every ref alone.`,
    );
  }
  await raw(gitAt(repoRoot), ['update-ref', '-d', ref]);
}

/**
 * Checks the run's code (snapshot, else commit) out into a new detached worktree at `targetDir`.
 * Returns the sha checked out.
 */
export async function createRunWorktree(repoRoot: string, runInfo: Pick<RunInfo, 'git' | 'id'>, targetDir: string): Promise<string> {
  const sha = requireSha(runInfo);
  const git = gitAt(repoRoot);
  if ((await tryRaw(git, ['cat-file', '-t', sha])) !== 'commit') {
    throw new Error(
      `The commit ${sha.slice(0, 8)} of run ${runInfo.id} is not in ${repoRoot} (was ${runInfo.git?.ref ?? 'its ref'} deleted, or is this another clone?).`,
    );
  }
  await raw(git, ['worktree', 'add', '--detach', resolve(targetDir), sha]);
  return sha;
}

export type ChangeKind = 'added' | 'modified' | 'deleted' | 'type-changed';

export interface ChangedFile {
  /** Repository-relative, with forward slashes. */
  path: string;
  /** From the run's code to the working tree: `added` = only in the working tree. */
  kind: ChangeKind;
}

const KINDS: Record<string, ChangeKind> = { A: 'added', M: 'modified', D: 'deleted', T: 'type-changed' };

/** Files that differ between the run's code and the current working tree (untracked files included). */
export async function listChangedFiles(repoRoot: string, runInfo: Pick<RunInfo, 'git' | 'id'>): Promise<ChangedFile[]> {
  const sha = requireSha(runInfo);
  const tree = await writeWorkingTree(repoRoot);
  const out = await gitAt(repoRoot).raw(['diff', '--name-status', '-z', '--no-renames', sha, tree]);
  const parts = out.split('\0').filter(Boolean);
  const files: ChangedFile[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    files.push({ path: parts[i + 1], kind: KINDS[parts[i][0]] ?? 'modified' });
  }
  return files;
}

/**
 * A file's content in the run's code, or null when the file did not exist there. `path` is
 * repository-relative or absolute inside the repository.
 */
export async function showFileAtRun(repoRoot: string, runInfo: Pick<RunInfo, 'git' | 'id'>, path: string): Promise<string | null> {
  const sha = requireSha(runInfo);
  const rel = isAbsolute(path) ? relative(repoRoot, path) : path;
  const spec = `${sha}:${rel.split(sep).join('/')}`;
  const git = gitAt(repoRoot);
  if ((await tryRaw(git, ['cat-file', '-t', spec])) !== 'blob') return null;
  return (await git.binaryCatFile(['blob', spec])).toString('utf8');
}
