import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { GitDirtyError, captureGit, createRunWorktree, deleteRunRef, listChangedFiles, showFileAtRun } from '../../../../../src/git/model/git';
import { initRepo, isolatedGit } from '../../../helpers/gitRepo';

const base = mkdtempSync(join(tmpdir(), 'pacs-git-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

const git = isolatedGit(base);

function newRepo(): string {
  const dir = join(base, `repo-${n++}`);
  initRepo(git, dir);
  return dir;
}

function committedRepo(): string {
  const dir = join(base, `repo-${n++}`);
  initRepo(git, dir, {
    'train.py': 'print("v1")\n',
    '.gitignore': '*.ckpt\n',
    'configs/arith.pacs.yaml': 'name: arith\n',
    'logo.bin': Buffer.from([0, 1, 2, 255, 0, 10]),
  });
  git(dir, 'remote', 'add', 'origin', 'https://example.com/lab.git');
  return dir;
}

/** Every file's bytes under dir (the .git folder excluded). */
function treeBytes(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (name === '.git') continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

interface UserState {
  index: Buffer | null;
  stash: string;
  stashLog: Buffer | null;
  files: Map<string, Buffer>;
  head: string;
  status: string;
}

/** Let git refresh the index's stat data, as any git command of the user's might, before taking a baseline. */
function baseline(dir: string): UserState {
  git(dir, 'status', '--porcelain');
  return userState(dir);
}

function userState(dir: string): UserState {
  const read = (p: string) => (existsSync(p) ? readFileSync(p) : null);
  const orNone = (args: string[], none: string) => {
    try {
      return git(dir, ...args);
    } catch {
      return none;
    }
  };
  const stash = orNone(['rev-parse', '-q', '--verify', 'refs/stash'], '(none)');
  const head = orNone(['rev-parse', 'HEAD'], '(unborn)');
  return {
    index: read(join(dir, '.git', 'index')),
    stash,
    stashLog: read(join(dir, '.git', 'logs', 'refs', 'stash')),
    files: treeBytes(dir),
    head,
    status: git(dir, '--no-optional-locks', 'status', '--porcelain'),
  };
}

function assertUntouched(before: UserState, after: UserState): void {
  assert.ok(before.index === null ? after.index === null : after.index?.equals(before.index), '.git/index changed');
  assert.equal(after.stash, before.stash, 'refs/stash changed');
  assert.ok(before.stashLog === null ? after.stashLog === null : after.stashLog?.equals(before.stashLog), 'stash log changed');
  assert.deepEqual([...after.files.keys()].sort(), [...before.files.keys()].sort(), 'files added or removed');
  for (const [path, bytes] of before.files) assert.ok(after.files.get(path)?.equals(bytes), `${path} changed`);
  assert.equal(after.head, before.head, 'HEAD moved');
  assert.equal(after.status, before.status, 'git status changed');
}

function filesInCommit(dir: string, sha: string): string[] {
  return git(dir, 'ls-tree', '-r', '--name-only', sha).split('\n').filter(Boolean).sort();
}

describe('captureGit', () => {
  test('clean tree: HEAD, branch, remote, not dirty, no snapshot, the ref keeps HEAD', async () => {
    const dir = committedRepo();
    const before = baseline(dir);
    const r = await captureGit(join(dir, 'configs'), 'run-clean', 'snapshot');
    assertUntouched(before, userState(dir));
    assert.equal(r.repoRoot, dir);
    assert.equal(r.warning, undefined);
    assert.equal(r.patch, '');
    assert.deepEqual(r.git, {
      commit: before.head,
      branch: 'main',
      remote: 'https://example.com/lab.git',
      dirty: false,
      snapshot: null,
      ref: 'refs/pacs/runs/run-clean',
    });
    assert.equal(git(dir, 'rev-parse', 'refs/pacs/runs/run-clean'), before.head);
  });

  test('dirty tree with staged, unstaged, untracked and ignored files and a stash: snapshot without touching anything', async () => {
    const dir = committedRepo();
    writeFileSync(join(dir, 'train.py'), 'print("stashed")\n');
    git(dir, 'stash', '-q');
    writeFileSync(join(dir, 'train.py'), 'print("v2")\n');
    writeFileSync(join(dir, 'staged.py'), 'x = 1\n');
    git(dir, 'add', 'staged.py');
    writeFileSync(join(dir, 'staged.py'), 'x = 2\n');
    writeFileSync(join(dir, 'new_reward.py'), 'def reward(): return 1\n');
    writeFileSync(join(dir, 'model.ckpt'), 'ignored weights');
    writeFileSync(join(dir, 'logo.bin'), Buffer.from([0, 1, 2, 254, 0, 10, 7]));
    const before = baseline(dir);

    const r = await captureGit(dir, 'run-dirty', 'snapshot');
    assertUntouched(before, userState(dir));
    assert.ok(r.git);
    assert.equal(r.git.dirty, true);
    assert.equal(r.git.commit, before.head);
    assert.ok(r.git.snapshot);
    assert.equal(r.git.ref, 'refs/pacs/runs/run-dirty');
    assert.equal(git(dir, 'rev-parse', 'refs/pacs/runs/run-dirty'), r.git.snapshot);
    assert.equal(git(dir, 'rev-parse', `${r.git.snapshot}^`), before.head, 'the snapshot sits on HEAD');
    assert.equal(git(dir, 'log', '-1', '--format=%s', r.git.snapshot), 'pacs run run-dirty');
    assert.deepEqual(filesInCommit(dir, r.git.snapshot), ['.gitignore', 'configs/arith.pacs.yaml', 'logo.bin', 'new_reward.py', 'staged.py', 'train.py']);
    assert.equal(git(dir, 'show', `${r.git.snapshot}:train.py`), 'print("v2")');
    assert.equal(git(dir, 'show', `${r.git.snapshot}:staged.py`), 'x = 2', 'the working tree, not the index');
    assert.match(r.patch, /new_reward\.py/);
    assert.match(r.patch, /GIT binary patch/);
    assert.doesNotMatch(r.patch, /model\.ckpt/);
    assert.equal(r.warning, undefined);

    // The patch reproduces the snapshot from HEAD.
    const check = join(base, `apply-${n++}`);
    git(base, 'clone', '-q', dir, check);
    writeFileSync(join(check, 'run.patch'), r.patch);
    git(check, 'apply', '--binary', 'run.patch');
    rmSync(join(check, 'run.patch'));
    git(check, 'add', '-A');
    assert.equal(git(check, 'write-tree'), git(dir, 'rev-parse', `${r.git.snapshot}^{tree}`));
  });

  test('warn saves the snapshot and says so; ignore records the dirty flag only', async () => {
    const dir = committedRepo();
    writeFileSync(join(dir, 'untracked.txt'), 'u\n');
    const warned = await captureGit(dir, 'run-warn', 'warn');
    assert.ok(warned.git?.snapshot);
    assert.match(warned.warning ?? '', /Uncommitted changes.*snapshot/);
    const ignored = await captureGit(dir, 'run-ignore', 'ignore');
    assert.equal(ignored.git?.dirty, true);
    assert.equal(ignored.git?.snapshot, null);
    assert.equal(ignored.patch, '');
    assert.equal(git(dir, 'rev-parse', 'refs/pacs/runs/run-ignore'), ignored.git?.commit);
  });

  test('block refuses a dirty tree with the files and the fix, and creates nothing', async () => {
    const dir = committedRepo();
    writeFileSync(join(dir, 'train.py'), 'print("v3")\n');
    writeFileSync(join(dir, 'extra.py'), '\n');
    const before = baseline(dir);
    await assert.rejects(captureGit(dir, 'run-block', 'block'), (e: unknown) => {
      assert.ok(e instanceof GitDirtyError);
      assert.deepEqual(e.files.sort(), ['extra.py', 'train.py']);
      assert.match(e.message, /extra\.py.*pacs\.git\.onDirty/);
      return true;
    });
    assertUntouched(before, userState(dir));
    assert.throws(() => git(dir, 'rev-parse', '-q', '--verify', 'refs/pacs/runs/run-block'));
    // A clean tree launches under block.
    const clean = await captureGit(committedRepo(), 'run-block-clean', 'block');
    assert.equal(clean.git?.dirty, false);
  });

  test('outside a repository: git null and one warning', async () => {
    const dir = join(base, `plain-${n++}`);
    mkdirSync(dir);
    const r = await captureGit(dir, 'run-plain', 'block');
    assert.equal(r.git, null);
    assert.equal(r.patch, '');
    assert.match(r.warning ?? '', /not in a git repository/);
  });

  test('a repository with no commits yet: a parentless snapshot of its files', async () => {
    const dir = newRepo();
    writeFileSync(join(dir, 'a.py'), 'a\n');
    writeFileSync(join(dir, 'b.py'), 'b\n');
    git(dir, 'add', 'a.py');
    const before = baseline(dir);
    const r = await captureGit(dir, 'run-unborn', 'snapshot');
    assertUntouched(before, userState(dir));
    assert.ok(r.git?.snapshot);
    assert.equal(r.git.commit, null);
    assert.equal(r.git.branch, 'main');
    assert.equal(r.git.dirty, true);
    assert.deepEqual(filesInCommit(dir, r.git.snapshot), ['a.py', 'b.py']);
    assert.equal(git(dir, 'rev-list', '--parents', '-n', '1', r.git.snapshot), r.git.snapshot, 'no parent');
    assert.match(r.patch, /b\.py/);
    const empty = await captureGit(newRepo(), 'run-empty', 'snapshot');
    assert.equal(empty.git?.dirty, false);
    assert.equal(empty.git?.ref, null);
    assert.match(empty.warning ?? '', /no commits/);
  });
});

describe('run code', () => {
  test('lists files changed since the run, shows a file at the run, checks the run out in a worktree', async () => {
    const dir = committedRepo();
    writeFileSync(join(dir, 'train.py'), 'print("run")\n');
    writeFileSync(join(dir, 'helper.py'), 'h\n');
    const { git: info } = await captureGit(dir, 'run-code', 'snapshot');
    assert.ok(info);
    const run = { id: 'run-code', git: info };
    writeFileSync(join(dir, 'train.py'), 'print("later")\n');
    rmSync(join(dir, 'helper.py'));
    writeFileSync(join(dir, 'later.py'), 'l\n');
    const before = baseline(dir);
    const changed = await listChangedFiles(dir, run);
    assertUntouched(before, userState(dir));
    assert.deepEqual(
      changed.sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: 'helper.py', kind: 'deleted' },
        { path: 'later.py', kind: 'added' },
        { path: 'train.py', kind: 'modified' },
      ],
    );
    assert.equal(await showFileAtRun(dir, run, 'train.py'), 'print("run")\n');
    assert.equal(await showFileAtRun(dir, run, join(dir, 'helper.py')), 'h\n');
    assert.equal(await showFileAtRun(dir, run, 'later.py'), null);
    const wt = join(base, `worktree-${n++}`);
    assert.equal(await createRunWorktree(dir, run, wt), info.snapshot);
    assert.equal(readFileSync(join(wt, 'train.py'), 'utf8'), 'print("run")\n');
    assert.equal(readFileSync(join(wt, 'helper.py'), 'utf8'), 'h\n');
    await assert.rejects(createRunWorktree(dir, { id: 'x', git: null }, join(base, 'nope')), /not launched from a git repository/);
  });
});

// run.json is untrusted: its git values reach git only when they are what PACS Lab wrote.
describe('git values from run.json', () => {
  test('deleteRunRef deletes only refs/pacs/runs/<the run id>: "HEAD" or a branch is refused and the branch stays', async () => {
    const dir = committedRepo();
    const head = git(dir, 'rev-parse', 'HEAD');
    await captureGit(dir, 'run-own', 'snapshot');
    for (const ref of ['HEAD', 'refs/heads/main', 'main', 'refs/pacs/runs/other-run', '--no-deref', null]) {
      await assert.rejects(deleteRunRef(dir, 'run-own', ref), /only deletes refs\/pacs\/runs\/run-own/);
    }
    await assert.rejects(deleteRunRef(dir, '..', 'refs/pacs/runs/..'), /only deletes/);
    assert.equal(git(dir, 'rev-parse', 'refs/heads/main'), head, 'the branch is still there');
    assert.equal(git(dir, 'symbolic-ref', 'HEAD'), 'refs/heads/main');
    await deleteRunRef(dir, 'run-own', 'refs/pacs/runs/run-own');
    assert.throws(() => git(dir, 'rev-parse', '--verify', '-q', 'refs/pacs/runs/run-own'));
  });

  test('a commit that is not a sha (an option, a revision expression) never reaches git', async () => {
    const dir = committedRepo();
    const target = join(base, `worktree-${n++}`);
    for (const commit of ['--output=/tmp/x', 'HEAD', 'main~1', 'a'.repeat(39)]) {
      const run = { id: 'run-x', git: { commit, branch: 'main', dirty: false, snapshot: null, ref: null } };
      await assert.rejects(createRunWorktree(dir, run, target), /not a commit sha/);
      await assert.rejects(listChangedFiles(dir, run), /not a commit sha/);
      await assert.rejects(showFileAtRun(dir, run, 'README.md'), /not a commit sha/);
    }
    assert.equal(existsSync(target), false);
  });
});
