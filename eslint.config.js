// Lint configuration. The rule that matters most: the pure core (src/manifest, src/reconcile, src/access)
// may not import anything that performs I/O, reads the clock or spawns processes.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'fs/promises', 'child_process', 'net', 'http', 'https', 'http2', 'dgram', 'dns', 'os', 'tls',
  'worker_threads', 'cluster', 'process', 'readline', 'timers', 'timers/promises', 'perf_hooks',
  'pg', 'ioredis', 'dockerode', 'chokidar', 'pino', 'prom-client', 'node-cron', 'p-queue', 'fastify', 'commander',
  'proper-lockfile',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/.work/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The pages' one script runs in browsers.
    files: ['web/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', EventSource: 'readonly', CSS: 'readonly', CustomEvent: 'readonly', fetch: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', setImmediate: 'readonly', structuredClone: 'readonly', fetch: 'readonly', btoa: 'readonly', atob: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', NodeJS: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/manifest/**/*.ts', 'src/reconcile/**/*.ts', 'src/access/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ioModules.map((name) => ({ name, message: 'The pure core (src/manifest, src/reconcile, src/access) has no I/O modules. Pass data in from src/desired, src/observed or src/engine.' })),
        patterns: [
          { group: ['node:*'], message: 'src/manifest and src/reconcile are pure: no node:* modules.' },
          // The observed snapshot and the status model are plain data contracts the planner reads and returns.
          { group: ['**/observed/**', '!**/observed/types.js', '**/engine/**', '!**/engine/status.js', '**/desired/**', '**/http/**', '**/cli/**'], message: 'The pure core may not depend on the I/O layers.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'process', message: 'The pure core takes its inputs as arguments, not from process.' },
        { name: 'setTimeout', message: 'The pure core does not schedule; return requeue-after instead.' },
        { name: 'fetch', message: 'The pure core performs no I/O.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'The pure core takes the time as an argument (now), never new Date().' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'The pure core takes the time as an argument (now), never Date.now().' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'The pure core is deterministic: pass randomness in.' },
      ],
    },
  },
);
