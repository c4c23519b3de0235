// In Restricted Mode the workspace's own settings must not choose a program to run or a folder to
// read and write: every such setting is in restrictedConfigurations, so VS Code ignores the
// workspace's value for it until the workspace is trusted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../../helpers/repo';

const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));

/** Settings that name a path or a program (reviewed: the others are enums, booleans and numbers). */
const PATH_OR_PROGRAM = ['pacs.pythonPath', 'pacs.runsDir'];

test('every setting that names a path or a program is restricted in untrusted workspaces', () => {
  const restricted: string[] = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
  for (const key of PATH_OR_PROGRAM) assert.ok(restricted.includes(key), `${key} is not in restrictedConfigurations`);
});

test('every other string setting is a fixed choice, not a free path', () => {
  const properties: Record<string, { type: string; enum?: unknown[]; pattern?: string }> = manifest.contributes.configuration.properties;
  for (const [key, spec] of Object.entries(properties)) {
    if (spec.type !== 'string' || PATH_OR_PROGRAM.includes(key)) continue;
    assert.ok(spec.enum || spec.pattern, `${key} is a free string: review it, and restrict it if it names a path or a program`);
  }
});
