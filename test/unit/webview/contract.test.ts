import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDashboardHostMessage, isDashboardWebviewMessage, type DashboardHostMessage, type DashboardWebviewMessage } from '../../../webview/dashboard/contract';
import { isRolloutsHostMessage, isRolloutsWebviewMessage, type RolloutsHostMessage, type RolloutsWebviewMessage } from '../../../webview/rollouts/contract';
import { assertNever } from '../../../webview/shared/contract';
import { isScorerHostMessage, isScorerPersistedState, isScorerWebviewMessage } from '../../../webview/scorer/contract';

// Type-level exhaustiveness: adding a message type without handling it here fails `tsc`.
function kindOfDashboardMessage(m: DashboardWebviewMessage): string {
  switch (m.type) {
    case 'ready':
    case 'selectCriticStep':
    case 'inspectRollouts':
    case 'setSmoothing':
    case 'exportCsv':
    case 'exportPng':
      return m.type;
    default:
      return assertNever(m, 'test');
  }
}
function kindOfRolloutsMessage(m: RolloutsWebviewMessage): string {
  switch (m.type) {
    case 'ready':
    case 'selectStep':
    case 'rescore':
    case 'openInPanel':
    case 'addVerifierCase':
    case 'loadTokens':
    case 'loadResponses':
      return m.type;
    default:
      return assertNever(m, 'test');
  }
}
function kindOfHostMessage(m: DashboardHostMessage | RolloutsHostMessage): string {
  switch (m.type) {
    case 'state':
    case 'samples':
    case 'tokens':
    case 'responses':
      return m.type;
    default:
      return assertNever(m, 'test');
  }
}

describe('contract', () => {
  it('guards accept every well-formed webview message', () => {
    const dashboard: DashboardWebviewMessage[] = [
      { type: 'ready' },
      { type: 'selectCriticStep', runId: 'r', step: 10 },
      { type: 'inspectRollouts', runId: 'r', step: 10 },
      { type: 'setSmoothing', weight: 0.3 },
      { type: 'exportCsv', series: [{ runId: 'r', metric: 'reward/mean' }] },
      { type: 'exportPng', name: 'reward', dataUrl: 'data:image/png;base64,AAAA' },
    ];
    for (const m of dashboard) {
      assert.ok(isDashboardWebviewMessage(m), m.type);
      assert.equal(kindOfDashboardMessage(m), m.type);
    }
    const rollouts: RolloutsWebviewMessage[] = [
      { type: 'ready' },
      { type: 'selectStep', step: 3 },
      { type: 'openInPanel', step: null },
      { type: 'rescore', request: { runId: 'r', step: 3, group: 1, index: 2, prompt: 'p', response: '<b>r</b>' } },
      { type: 'addVerifierCase', sample: { runId: 'r', step: 3, group: 1, index: 2 } },
      { type: 'loadTokens', loadId: 4, group: 1, index: 2 },
      { type: 'loadResponses', loadId: 4 },
    ];
    for (const m of rollouts) {
      assert.ok(isRolloutsWebviewMessage(m), m.type);
      assert.equal(kindOfRolloutsMessage(m), m.type);
    }
  });

  it('guards reject unknown types and malformed fields', () => {
    for (const bad of [null, 'ready', {}, { type: 'nope' }, { type: 'selectCriticStep', runId: 1, step: 2 }, { type: 'inspectRollouts', runId: 'r', step: 1.5 },
      { type: 'setSmoothing', weight: NaN }, { type: 'setSmoothing' }, { type: 'exportCsv', series: [{ runId: 'r' }] }, { type: 'exportCsv', series: 'r' },
      { type: 'exportPng', name: 'x' }]) {
      assert.equal(isDashboardWebviewMessage(bad), false, JSON.stringify(bad));
    }
    for (const bad of [
      { type: 'selectStep', step: '3' },
      { type: 'openInPanel' },
      { type: 'rescore', request: { runId: 'r', step: 3, group: 1, index: 2, prompt: 'p' } },
      { type: 'rescore' },
      { type: 'addVerifierCase', sample: { runId: 'r', step: 3, group: 1 } },
      { type: 'addVerifierCase' },
      { type: 'loadTokens', loadId: 4, group: 1 },
      { type: 'loadTokens', loadId: '4', group: 1, index: 2 },
      { type: 'loadResponses', loadId: 4.5 },
      { type: 'state' },
    ]) {
      assert.equal(isRolloutsWebviewMessage(bad), false, JSON.stringify(bad));
    }
    // a type named after what every object inherits is not a message type
    for (const type of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      assert.equal(isDashboardWebviewMessage({ type }), false, type);
      assert.equal(isRolloutsWebviewMessage({ type }), false, type);
    }
  });

  it('host message guards check the discriminant and payload shape', () => {
    assert.ok(isDashboardHostMessage({ type: 'state', state: {} }));
    assert.equal(isDashboardHostMessage({ type: 'samples', state: {} }), false);
    assert.ok(isRolloutsHostMessage({ type: 'samples', loadId: 1, offset: 0, samples: [] }));
    assert.equal(isRolloutsHostMessage({ type: 'samples', loadId: 1, offset: 0 }), false);
    assert.equal(kindOfHostMessage({ type: 'samples', loadId: 1, offset: 0, samples: [] }), 'samples');
    const tokens: RolloutsHostMessage = { type: 'tokens', loadId: 1, group: 0, index: 2, details: { tokens: ['a'], token_logratio: [0.5] }, error: null };
    assert.ok(isRolloutsHostMessage(tokens));
    assert.ok(isRolloutsHostMessage({ ...tokens, details: null, error: 'cannot read' }));
    assert.equal(isRolloutsHostMessage({ ...tokens, details: 'a' }), false);
    assert.equal(isRolloutsHostMessage({ ...tokens, index: undefined }), false);
    assert.equal(kindOfHostMessage(tokens), 'tokens');
    assert.ok(isRolloutsHostMessage({ ...tokens, response: 'the whole response' }));
    assert.equal(isRolloutsHostMessage({ ...tokens, response: 7 }), false);
    const responses: RolloutsHostMessage = { type: 'responses', loadId: 1, offset: 2000, responses: ['a', '<b>b</b>'], error: null };
    assert.ok(isRolloutsHostMessage(responses));
    assert.ok(isRolloutsHostMessage({ ...responses, responses: [], error: 'cannot read' }));
    assert.equal(isRolloutsHostMessage({ ...responses, responses: ['a', null] }), false);
    assert.equal(isRolloutsHostMessage({ ...responses, error: undefined }), false);
    assert.equal(kindOfHostMessage(responses), 'responses');
  });

  it('scorer guards check the discriminant and every field', () => {
    assert.ok(isScorerWebviewMessage({ type: 'ready' }));
    assert.ok(isScorerWebviewMessage({ type: 'rescore', step: 4, prompt: 'p', response: '<b>r</b>', eos: false }));
    for (const bad of [null, { type: 'state' }, { type: 'rescore', step: 4.5, prompt: 'p', response: 'r', eos: true }, { type: 'rescore', step: 4, prompt: 'p', response: 'r' }]) {
      assert.equal(isScorerWebviewMessage(bad), false, JSON.stringify(bad));
    }
    assert.ok(isScorerHostMessage({ type: 'state', state: {} }));
    assert.equal(isScorerHostMessage({ type: 'state' }), false);
    assert.equal(isScorerHostMessage({ type: 'ready', state: {} }), false);
    assert.ok(isScorerPersistedState({ runId: 'r', step: 2, prompt: 'p', response: 'r', eos: true, sample: null }));
    assert.equal(isScorerPersistedState({ runId: 'r', step: '2', prompt: 'p', response: 'r', eos: true }), false);
  });

  it('assertNever throws on a value that escaped the type system', () => {
    assert.throws(() => assertNever({ type: 'bogus' } as never, 'here'), /here: unhandled message/);
  });
});
