// @ts-check
import js from '@eslint/js'
import simpleImportSort from 'eslint-plugin-simple-import-sort'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.shepherd/', 'coverage/', 'bench/scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard runs in the browser: plain ES modules served as they are, no build step.
    files: ['dashboard/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // The config is read by every other part; none of them may be imported back, or a folder cycle
    // follows (the locales the schema offers live in src/config/locales.ts for that reason).
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../notify/*', '../report/*', '../supervisor/*', '../queue/*', '../http/*', '../cli/*'],
              message: 'src/config imports only core, units and errors: move what both sides need here.',
            },
          ],
        },
      ],
    },
  },
  {
    // Time comes in through the Clock and the TimerPort (src/core/clock.ts), so that these parts run
    // under fake time in tests; only src/adapters touches the platform's timers and clocks.
    files: [
      'src/notify/**/*.ts',
      'src/report/**/*.ts',
      'src/process/probes.ts',
      'src/process/run-command.ts',
    ],
    rules: {
      'no-restricted-globals': [
        'error',
        ...[
          'setTimeout',
          'setInterval',
          'setImmediate',
          'clearTimeout',
          'clearInterval',
          'clearImmediate',
        ].map((name) => ({ name, message: 'Arm timers on the injected TimerPort (src/core/clock.ts).' })),
        { name: 'performance', message: 'Read the time from the injected Clock.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Read the time from the injected Clock.' },
        { object: 'performance', property: 'now', message: 'Read the time from the injected Clock.' },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:timers',
            'node:timers/promises',
            'node:perf_hooks',
            'timers',
            'timers/promises',
            'perf_hooks',
          ].map((name) => ({
            name,
            message: 'Timers and clocks come in through ports (src/core/clock.ts).',
          })),
        },
      ],
    },
  },
  {
    // The core decides; it never touches the world. Everything it needs comes in through ports,
    // so every recovery decision can be tested with fake time and a fake process table.
    files: ['src/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'child_process', 'os', 'net', 'http', 'path'],
              message: 'src/core is pure: take what you need through a port.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'src/core has no timers: return a wait effect.' },
        { name: 'setInterval', message: 'src/core has no timers.' },
        { name: 'process', message: 'src/core has no process access.' },
        { name: 'performance', message: 'src/core takes the time as an argument.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'src/core takes `now` as an argument.' },
        { object: 'Math', property: 'random', message: 'src/core takes `random` as an argument.' },
      ],
    },
  },
)
