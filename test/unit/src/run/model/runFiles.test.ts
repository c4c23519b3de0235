// A run folder is untrusted data: crafted runs whose files are links to files outside the run
// must make the extension and the CLI neither read nor write those files, and say why.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sendControl } from '../../../../../src/runs/model/control';
import { readJsonlFile } from '../../../../../src/run/model/events';
import { processStartTime } from '../../../../../src/runs/model/process';
import { appendLine, readLauncherInfo, readRunInfo, trainerLogTail, writeJsonAtomic } from '../../../../../src/run/model/runDir';
import { pathInside, RunFileError, runFilePath } from '../../../../../src/run/model/runFiles';
import { RunStore } from '../../../../../src/runs/model/runStore';
import { RunConfigCache } from '../../../../../src/dashboard/model/runConfig';
import { appendEvents, makeRun, runInfo, writeRunJson } from '../../../helpers/runFixtures';
import { REPO } from '../../../helpers/repo';

const base = mkdtempSync(join(tmpdir(), 'pacs-runfiles-'));
after(() => rmSync(base, { recursive: true, force: true }));
const SECRET = 'SECRET-TOKEN-4f2a9c';
let n = 0;

/** A fresh runs root, and a folder outside it holding a secret and a file that must stay unchanged. */
function crafted(): { root: string; outside: string; secret: string; victim: string } {
  const top = join(base, `case-${n++}`);
  const root = join(top, 'runs');
  const outside = join(top, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside);
  const secret = join(outside, 'secret.txt');
  const victim = join(outside, 'victim.txt');
  writeFileSync(secret, `${SECRET}\n`);
  writeFileSync(victim, 'unchanged\n');
  return { root, outside, secret, victim };
}

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

/** A run that says running on this host with a dead trainer: the next poll marks it crashed. */
function crashedRun(root: string, id: string): string {
  return makeRun(root, id, { status: 'running', pid: deadPid(), pid_start_time: '1' });
}

function linkIn(dir: string, name: string, target: string): void {
  rmSync(join(dir, name), { force: true });
  symlinkSync(target, join(dir, name));
}

describe('a crafted run folder with links', () => {
  test('crash detection neither appends through an events.jsonl link nor copies a trainer.log link into run.json', async () => {
    const { root, secret, victim } = crafted();
    const id = '20261127-030000-arith-aaaa';
    const dir = crashedRun(root, id);
    linkIn(dir, 'events.jsonl', victim);
    linkIn(dir, 'trainer.log', secret);
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    const errors: string[] = [];
    store.onDidError((e) => errors.push(e.message));
    try {
      await store.refresh();
      await store.refresh();
      assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n', 'nothing appended to the file outside the run');
      const onDisk = readFileSync(join(dir, 'run.json'), 'utf8');
      assert.ok(!onDisk.includes(SECRET), 'the linked file is not copied into run.json');
      assert.equal(JSON.parse(onDisk).status, 'crashed', 'the run is still marked crashed');
      assert.match(JSON.parse(onDisk).error.message, /trainer\.log is a symbolic link/);
      assert.ok(errors.some((m) => /events\.jsonl is a symbolic link/.test(m)), errors.join('\n'));
      const run = store.get(id);
      assert.equal(run?.status, 'crashed');
      assert.match(run?.lastError?.message ?? '', /symbolic link/, 'the UI shows why');
    } finally {
      store.dispose();
    }
  });

  test('a run.json that is a link is not read: the run is not listed, and the error says why without its content', async () => {
    const { root, outside } = crafted();
    const foreign = join(outside, 'run.json');
    writeFileSync(foreign, `{"status": "${SECRET}"`);
    const dir = join(root, '20261127-030000-arith-bbbb');
    mkdirSync(dir);
    symlinkSync(foreign, join(dir, 'run.json'));
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    const errors: string[] = [];
    store.onDidError((e) => errors.push(e.message));
    try {
      await store.refresh();
      assert.equal(store.runs().length, 0);
      assert.equal(errors.length, 1);
      assert.match(errors[0], /run\.json is a symbolic link/);
      assert.ok(!errors[0].includes(SECRET));
      await assert.rejects(readRunInfo(dir), RunFileError);
    } finally {
      store.dispose();
    }
  });

  test('launcher.json, config.yaml and trainer.log links are not read', async () => {
    const { root, outside, secret } = crafted();
    const dir = makeRun(root, '20261127-030000-arith-cccc');
    const foreignLauncher = join(outside, 'launcher.json');
    writeFileSync(foreignLauncher, JSON.stringify({ pid: 1, host: SECRET }));
    linkIn(dir, 'launcher.json', foreignLauncher);
    assert.equal(await readLauncherInfo(dir), null);
    writeFileSync(join(outside, 'config.yaml'), `secret: ${SECRET}\n`);
    linkIn(dir, 'config.yaml', join(outside, 'config.yaml'));
    assert.equal(await new RunConfigCache().read(dir), null);
    linkIn(dir, 'trainer.log', secret);
    const tail = await trainerLogTail(dir);
    assert.ok(!tail.includes(SECRET));
    assert.match(tail, /not read: .*trainer\.log is a symbolic link/);
  });

  test('rollouts through a linked file or a linked rollouts/ folder are refused', async () => {
    const { root, outside } = crafted();
    const id = '20261127-030000-arith-dddd';
    const dir = makeRun(root, id);
    const foreign = join(outside, 'step-000001.jsonl');
    writeFileSync(foreign, JSON.stringify({ step: 1, prompt: SECRET, response: '' }) + '\n');
    mkdirSync(join(dir, 'rollouts'));
    symlinkSync(foreign, join(dir, 'rollouts', 'step-000001.jsonl'));
    appendEvents(dir, [{ t: 1, type: 'rollouts', step: 1, file: 'rollouts/step-000001.jsonl', count: 1 }]);
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    try {
      await store.refresh();
      await assert.rejects(store.loadRollouts(id, 1), /step-000001\.jsonl is a symbolic link/);
      rmSync(join(dir, 'rollouts'), { recursive: true });
      symlinkSync(outside, join(dir, 'rollouts'));
      await assert.rejects(store.loadRollouts(id, 1), /rollouts is a symbolic link/);
    } finally {
      store.dispose();
    }
  });

  test('a control command is not appended through a control.jsonl link', async () => {
    const { root, victim } = crafted();
    const dir = makeRun(root, '20261127-030000-arith-eeee', { status: 'running', pid: process.pid, pid_start_time: processStartTime(process.pid) });
    linkIn(dir, 'control.jsonl', victim);
    await assert.rejects(sendControl(dir, 'pause', { timeoutMs: 100 }), /control\.jsonl is a symbolic link/);
    assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n');
  });

  test('writes refuse links, named pipes and hard links; an atomic write replaces a link and never writes through it', async () => {
    const { root, victim } = crafted();
    const dir = makeRun(root, '20261127-030000-arith-ffff');
    linkIn(dir, 'events.jsonl', victim);
    await assert.rejects(appendLine(join(dir, 'events.jsonl'), '{}'), RunFileError);
    rmSync(join(dir, 'events.jsonl'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'events.jsonl')]).status, 0);
    await assert.rejects(appendLine(join(dir, 'events.jsonl'), '{}'), /named pipe/);
    await assert.rejects(readJsonlFile(join(dir, 'events.jsonl')), /named pipe/, 'a pipe is not opened for reading (no hang)');
    rmSync(join(dir, 'events.jsonl'));
    assert.equal(spawnSync('ln', [victim, join(dir, 'events.jsonl')]).status, 0);
    await assert.rejects(appendLine(join(dir, 'events.jsonl'), '{}'), /hard link/);
    linkIn(dir, 'run.json', victim);
    await writeJsonAtomic(join(dir, 'run.json'), runInfo('x'));
    assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n');
    assert.equal(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).id, 'x');
  });

  test('paths named inside a run stay inside it', async () => {
    const { root, outside } = crafted();
    const dir = makeRun(root, '20261127-030000-arith-gggg');
    assert.throws(() => pathInside(dir, '../other/run.json'), /points outside/);
    assert.throws(() => pathInside(dir, '/etc/passwd'), /points outside/);
    assert.throws(() => pathInside(dir, 42), /not a file name/);
    assert.equal(pathInside(dir, 'onnx/./model.onnx'), join(dir, 'onnx', 'model.onnx'));
    symlinkSync(outside, join(dir, 'onnx'));
    await assert.rejects(runFilePath(dir, 'onnx/manifest.json'), /onnx is a symbolic link/);
  });

  test('pacs-lab status marks a crashed run without following its links, and prints why', async () => {
    const { root, secret, victim } = crafted();
    const dir = crashedRun(root, '20261127-030000-arith-hhhh');
    linkIn(dir, 'events.jsonl', victim);
    linkIn(dir, 'trainer.log', secret);
    const cli = [process.execPath, '--import', pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(REPO, 'src', 'cli.ts')];
    const { stdout, stderr } = await promisify(execFile)(cli[0], [...cli.slice(1), 'status', root]);
    assert.equal(readFileSync(victim, 'utf8'), 'unchanged\n');
    const onDisk = readFileSync(join(dir, 'run.json'), 'utf8');
    assert.ok(!onDisk.includes(SECRET) && !stdout.includes(SECRET) && !stderr.includes(SECRET));
    assert.match(stdout, /crashed/);
    assert.match(stderr, /events\.jsonl is a symbolic link/);
  });

  test('a run folder that is itself a link is not listed', async () => {
    const { root, outside } = crafted();
    writeRunJson(outside, runInfo('elsewhere'));
    symlinkSync(outside, join(root, '20261127-030000-arith-iiii'));
    const store = new RunStore({ roots: [root], pollIntervalMs: 60_000 });
    try {
      await store.refresh();
      assert.equal(store.runs().length, 0);
    } finally {
      store.dispose();
    }
  });
});
