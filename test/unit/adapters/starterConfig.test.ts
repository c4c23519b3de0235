import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { diagnoseConfig, loadSchema } from '../../../src/core/configDiagnostics';
import { starterConfig } from '../../../src/config/starterConfig';

test('the starter config of "PACS: New Training Config" passes the bundled schema', async () => {
  const schema = await loadSchema(join(import.meta.dirname, '../../../schemas/pacs-config.schema.json'));
  assert.deepEqual(diagnoseConfig(starterConfig('my-run'), schema), []);
  assert.match(starterConfig('my-run'), /^name: my-run$/m);
});
