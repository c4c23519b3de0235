// `make test-webview`: renders the built webview bundles in headless Chromium and checks them.
// The tests are TypeScript (they share the host's shaping code), so they run under tsx.
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const tests = fileURLToPath(new URL('./webviewTests.ts', import.meta.url));
const result = spawnSync(process.execPath, ['--import', 'tsx', tests], { stdio: 'inherit' });
process.exitCode = result.status ?? 1;
