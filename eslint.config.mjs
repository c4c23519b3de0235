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
);
