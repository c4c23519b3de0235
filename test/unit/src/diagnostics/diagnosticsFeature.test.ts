// The Diagnostics panel's host side against an in-memory `vscode` (fakeVscode.ts) and a real
// RunStore over the committed diagnostics run: the command, the serializer that brings a panel back
// after a window reload (from the state the page saved), and disposal.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiagnosticsState } from '../../../../webview/diagnostics/contract';
import { RunStore } from '../../../../src/runs/model/runStore';
import { FakePanel, installFakeVscode, recorded, Uri } from '../../helpers/fakeVscode';
import { REPO } from '../../helpers/repo';
import { until } from '../../helpers/until';

installFakeVscode();
// Required after the fake is installed (static imports would load `vscode` first).
/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const { DiagnosticsFeature } = require('../../../../src/diagnostics/diagnosticsFeature') as typeof import('../../../../src/diagnostics/diagnosticsFeature');

const ROOT = join(REPO, 'test', 'webview', 'fixtures', 'diagnostics-run');
const RUN_ID = '20261207-133000-arith-diag';
const stateOf = (panel: FakePanel) => panel.webview.posted.filter((m) => m.type === 'state').map((m) => m.state as DiagnosticsState).at(-1);

describe('the Diagnostics feature (host side)', () => {
  let store: RunStore;
  let feature: InstanceType<typeof DiagnosticsFeature>;
  const context = { extensionUri: Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;

  before(async () => {
    store = new RunStore({ roots: [ROOT], detectCrashes: false });
    await store.refresh();
    feature = new DiagnosticsFeature(context, store);
  });
  after(() => {
    feature.dispose();
    store.dispose();
  });

  it('restores a panel after a reload from the run id its page saved, and closes one whose state does not parse', async () => {
    const serializer = recorded.serializers.get('pacs.diagnostics');
    assert.ok(serializer, 'a serializer for pacs.diagnostics');
    const restored = new FakePanel('pacs.diagnostics', '', {});
    await serializer.deserializeWebviewPanel(restored, { runId: RUN_ID, tab: 'heldout' });
    restored.webview.send({ type: 'ready' });
    const state = await until('the restored panel\'s state', () => stateOf(restored));
    assert.equal(state.runId, RUN_ID);
    assert.equal(restored.title, `Diagnostics · ${RUN_ID}`);
    assert.equal(state.prompts.length, 96, 'every prompt of the run\'s ledger (96 training problems)');
    assert.ok(state.evaluations.length >= 2, 'its evaluations');

    // The command on the same run reveals the restored panel rather than opening a second one.
    const opened = recorded.panels.length;
    await recorded.commands.get('pacs.openDiagnostics')?.(RUN_ID);
    assert.equal(recorded.panels.length, opened);

    for (const saved of [undefined, { nonsense: true }, { runId: '' }, { runId: 7 }]) {
      const broken = new FakePanel('pacs.diagnostics', '', {});
      await serializer.deserializeWebviewPanel(broken, saved);
      assert.equal(broken.disposed, true, JSON.stringify(saved));
    }
  });

  it('disposes its command, serializer and panels', () => {
    const open = recorded.panels.filter((p) => p.viewType === 'pacs.diagnostics' && !p.disposed);
    feature.dispose();
    assert.equal(recorded.commands.has('pacs.openDiagnostics'), false);
    assert.equal(recorded.serializers.has('pacs.diagnostics'), false);
    assert.ok(open.every((p) => p.disposed));
  });
});
