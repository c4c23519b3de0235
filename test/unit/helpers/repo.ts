// Paths the unit tests share, the same however deep a test file sits in test/unit/.
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..', '..');
export const FIXTURES = join(REPO, 'test', 'unit', 'fixtures');
