// The base of the features that run the trainer (src/runs/trainerFeature.ts) against the in-memory
// `vscode`: each subclass gets the services it was built with, and a failure reaches the log and
// the user once, by its message.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { installFakeVscode, recorded } from '../../helpers/fakeVscode';

installFakeVscode();
/* eslint-disable @typescript-eslint/no-require-imports */
const { TrainerFeature } = require('../../../../src/runs/trainerFeature') as typeof import('../../../../src/runs/trainerFeature');
/* eslint-enable @typescript-eslint/no-require-imports */

type Services = import('../../../../src/runs/trainerFeature').TrainerServices;

class Probe extends TrainerFeature {
  seen(): Services {
    return { store: this.store, roots: this.roots, python: this.python, log: this.log };
  }
  fail(err: unknown): void {
    this.showFailure(err);
  }
}

describe('TrainerFeature', () => {
  it('keeps the services it is built with and shows a failure in the log and as an error message', () => {
    const errors: string[] = [];
    const services = {
      store: { name: 'store' }, roots: { name: 'roots' }, python: { name: 'python' },
      log: { error: (text: string) => errors.push(text) },
    } as unknown as Services;
    const probe = new Probe(services);
    assert.deepEqual(probe.seen(), services);
    const shown = recorded.messages.length;
    probe.fail(new Error('the trainer exited with code 2'));
    assert.deepEqual(errors, ['the trainer exited with code 2']);
    assert.deepEqual(recorded.messages.slice(shown), ['PACS Lab: the trainer exited with code 2']);
    probe.dispose();
  });
});
