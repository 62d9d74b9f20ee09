// @ts-check
import js from '@eslint/js'
import simpleImportSort from 'eslint-plugin-simple-import-sort'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/**
 * Outside the adapters, time comes through ports: the clock (`Clock.now`) and the timers
 * (`TimerPort`/`Scheduler`, src/ports/clock.ts), so that what runs on them runs under fake time in
 * tests. These folders take both as dependencies; only src/adapters (and the composition root,
 * src/daemon.ts and src/cli, and the worker SDK in src/worker) touch the platform's own.
 */
const INJECTED_TIME = [
  'src/supervisor/**/*.ts',
  'src/queue/**/*.ts',
  'src/store/*.ts',
  'src/notify/**/*.ts',
  'src/report/**/*.ts',
  'src/adapters/process/probes.ts',
  'src/adapters/process/run-command.ts',
]
const injectedTime = 'takes time through ports (src/ports/clock.ts): the Clock and the timers it is given.'
const noRawTime = {
  'no-restricted-globals': [
    'error',
    ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate'].map(
      (name) => ({ name, message: `This folder ${injectedTime}` }),
    ),
    { name: 'performance', message: `This folder ${injectedTime}` },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: `This folder ${injectedTime}` },
    { object: 'performance', property: 'now', message: `This folder ${injectedTime}` },
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
        message: `This folder ${injectedTime}`,
      })),
    },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: `This folder ${injectedTime}`,
    },
  ],
}

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
              group: [
                '../notify/*',
                '../report/*',
                '../supervisor/*',
                '../queue/*',
                '../adapters/**',
                '../cli/*',
              ],
              message: 'src/config imports only core, units and errors: move what both sides need here.',
            },
          ],
        },
      ],
    },
  },
  {
    // The core decides; it never touches the world. Everything it needs comes in through ports,
    // so every recovery decision can be tested with fake time and a fake process table.
    files: ['src/core/**/*.ts', 'src/ports/**/*.ts'],
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
            {
              // Inward only: the core and the ports know nothing of the adapters and the services
              // built on them (config types are data, and allowed).
              group: [
                '../adapters/**',
                '../supervisor/*',
                '../queue/*',
                '../store/*',
                '../notify/*',
                '../report/*',
                '../metrics/*',
                '../cli/*',
                '../daemon.js',
              ],
              message:
                'src/core and src/ports point inward: they import only core, ports, config types and errors.',
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
  {
    files: INJECTED_TIME,
    rules: noRawTime,
  },
)
