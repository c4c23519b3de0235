import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', '.cache/**', 'test-results/**', 'bench/.work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: 'Model output is untrusted: build DOM nodes and set textContent.' },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: 'Model output is untrusted: build DOM nodes and set textContent.' },
      ],
    },
  },
  {
    // A feature's model (src/<feature>/model/), the CLI and the webviews run without VS Code:
    // the model is tested in plain Node, the CLI runs in a terminal, the webviews in a browser.
    files: ['src/*/model/**/*.ts', 'src/cli.ts', 'webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'src/<feature>/model/, src/cli.ts and webview/ never import vscode: put VS Code code in the feature\'s adapter beside model/.' }] }],
    },
  },
  {
    // A model imports models only: an adapter beside it (../x), another feature's adapter
    // (../../feature/x) or the composition root (../../extension) would bring vscode in with it.
    files: ['src/*/model/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'src/<feature>/model/ never imports vscode: put VS Code code in the feature\'s adapter beside model/.' }],
        patterns: [{ regex: '^\\.\\./(\\.\\./)?[^./][^/]*(/[^/]+)?$', message: 'src/<feature>/model/ imports only models (src/<feature>/model/...) and webview contracts, never an adapter.' }],
      }],
    },
  },
  {
    // A webview page reaches into src/ through models only.
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'webview/ never imports vscode: it runs in the browser.' }],
        patterns: [{ regex: '^(\\.\\./)+src/(?![^/]+/model/)', message: 'webview/ imports from src/ only its models (src/<feature>/model/...), never an adapter.' }],
      }],
    },
  },
);
