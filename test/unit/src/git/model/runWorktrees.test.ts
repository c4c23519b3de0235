// The worktrees a deleted run owns, and their removal, against a real git repository.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRunWorktree } from '../../../../../src/git/model/git';
import { RunWorktrees } from '../../../../../src/git/model/runWorktrees';
import { initRepo, isolatedGit } from '../../../helpers/gitRepo';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'pacs-worktrees-')));
const git = isolatedGit(base);

describe('RunWorktrees', () => {
  const repo = join(base, 'repo');
  const worktrees = new RunWorktrees(join(base, 'global-storage'));
  const runInfo = (id: string, commit: string) => ({ id, git: { commit, snapshot: null, dirty: false, branch: 'main', ref: null, remote: null } });
  let commit: string;

  before(() => {
    initRepo(git, repo, { 'configs/arith.pacs.yaml': 'name: arith\n' });
    commit = git(repo, 'rev-parse', 'HEAD');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('puts checkouts and reproductions under global storage', () => {
    assert.equal(worktrees.checkoutDir('r1'), join(base, 'global-storage', 'worktrees', 'r1'));
    assert.match(worktrees.reproduceDir('r1'), /worktrees[/\\]r1-repro-[0-9a-f]{4}$/);
  });

  it("finds a run's checkout and the reproduction its config lies in, and removes both from git", async () => {
    const checkout = worktrees.checkoutDir('r1');
    const repro = worktrees.reproduceDir('r0');
    await createRunWorktree(repo, runInfo('r1', commit), checkout);
    await createRunWorktree(repo, runInfo('r0', commit), repro);
    assert.deepEqual(worktrees.ownedBy('r1', join(repro, 'configs', 'arith.pacs.yaml')), [checkout, repro]);
    assert.deepEqual(worktrees.ownedBy('r2', join(repo, 'configs', 'arith.pacs.yaml')), [], 'a config in the workspace owns nothing');
    for (const dir of worktrees.ownedBy('r1', join(repro, 'configs', 'arith.pacs.yaml'))) await worktrees.remove(dir);
    assert.equal(existsSync(checkout), false);
    assert.equal(existsSync(repro), false);
    assert.doesNotMatch(git(repo, 'worktree', 'list', '--porcelain'), /global-storage/);
  });

  it('keeps a worktree that another run still uses, and removes one with local changes', async () => {
    const checkout = worktrees.checkoutDir('r3');
    await createRunWorktree(repo, runInfo('r3', commit), checkout);
    const otherRun = join(checkout, '.pacs', 'runs', 'r4');
    assert.deepEqual(worktrees.ownedBy('r3', null, [otherRun]), []);
    writeFileSync(join(checkout, 'configs', 'arith.pacs.yaml'), 'name: edited\n');
    writeFileSync(join(checkout, 'notes.txt'), 'untracked\n');
    assert.deepEqual(worktrees.ownedBy('r3', null, [join(repo, 'x')]), [checkout]);
    await worktrees.remove(checkout);
    assert.equal(existsSync(checkout), false);
    assert.doesNotMatch(git(repo, 'worktree', 'list', '--porcelain'), /r3/);
  });
});
