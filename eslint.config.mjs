// One lint configuration for the workspace: typescript-eslint's type-aware rules (floating
// promises, unsafe `any`, unused code) plus @stylistic rules that hold the house style
// (`eslint --fix` formats). Each package's `lint` script runs it over its own folder.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.tap/**', '**/coverage/**', '**/.lab/**', '**/.cache/**', '.tools/**', '**/*.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // tap awaits subtests itself: a bare t.test(...) is how tap tests are written.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', name: 'test', package: '@tapjs/core' }, { from: 'package', name: 'test', package: '@tapjs/test' }] }],
      // Fastify handlers and plugins are async by contract, with or without an await inside.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowArray: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and benchmarks read untyped JSON answers (AWS, problem+json) on purpose; tsc still checks them.
    files: ['**/test/**', '**/bench/**', 'e2e/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], extends: [tseslint.configs.disableTypeChecked], languageOptions: { globals: globals.node } },
  // Page scripts run in the browser (bundled by esbuild).
  { files: ['services/*/page/**/*.{js,mjs}', 'packages/shared/assets/**/*.js'], languageOptions: { globals: globals.browser } },
  stylistic.configs.customize({ semi: false, quotes: 'single', indent: 2, braceStyle: '1tbs', arrowParens: true, commaDangle: 'always-multiline', quoteProps: 'consistent-as-needed' }),
  {
    // The house style where it differs from @stylistic's defaults: aligned tables, one-line guards.
    rules: {
      '@stylistic/list-style': 'off',
      '@stylistic/member-delimiter-style': 'off',
      '@stylistic/max-statements-per-line': 'off',
      '@stylistic/operator-linebreak': 'off',
      '@stylistic/no-multi-spaces': 'off',
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
    },
  },
)
