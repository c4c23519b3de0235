import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScoreRequest, sampleOf } from '../../../../../src/scoring/model/scoreRequest';

describe('pacs.scoreResponse argument', () => {
  it('takes a run id, an inspector request, or nothing', () => {
    assert.deepEqual(parseScoreRequest('run-1'), { runId: 'run-1' });
    assert.deepEqual(parseScoreRequest(undefined), {});
    const request = parseScoreRequest({ runId: 'r', step: 3, group: 1, index: 0, prompt: '1+1=', response: '2' });
    assert.deepEqual(sampleOf(request), { step: 3, group: 1, index: 0 });
    assert.equal(request.response, '2');
  });

  it('drops malformed fields instead of trusting them', () => {
    const request = parseScoreRequest({ runId: 5, step: -1, group: 1.5, index: '0', prompt: null });
    assert.deepEqual(request, { runId: undefined, step: undefined, group: undefined, index: undefined, prompt: undefined, response: undefined });
    assert.equal(sampleOf(parseScoreRequest({ runId: 'r', step: 4 })), null);
  });
});
