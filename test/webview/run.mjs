// `make test-webview`: renders the built webview bundles in headless Chromium and checks them.
// The tests are TypeScript (they share the host's shaping code), so they run under tsx.
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

let status = 0;
for (const file of ['./webviewTests.ts', './diagnosticsTests.ts']) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], { stdio: 'inherit' });
  status ||= result.status ?? 1;
}
process.exitCode = status;
