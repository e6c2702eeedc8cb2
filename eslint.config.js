import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.shoal/**'] },
  js.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only config modules read process.env.' }],
    },
  },
  {
    files: ['apps/dashboard/web/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/config.ts', '**/config/*.ts', 'scripts/**', 'e2e/**', 'bench/**', '**/test/**', '.ci/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
