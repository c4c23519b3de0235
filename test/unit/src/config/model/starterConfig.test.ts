import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { diagnoseConfig, loadSchema } from '../../../../../src/config/model/configDiagnostics';
import { starterConfig } from '../../../../../src/config/model/starterConfig';
import { REPO } from '../../../helpers/repo';

test('the starter config of "PACS: New Training Config" passes the bundled schema', async () => {
  const schema = await loadSchema(join(REPO, 'schemas/pacs-config.schema.json'));
  assert.deepEqual(diagnoseConfig(starterConfig('my-run'), schema), []);
  assert.match(starterConfig('my-run'), /^name: my-run$/m);
});
