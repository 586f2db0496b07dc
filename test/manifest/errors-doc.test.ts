// docs/errors.md and the code catalog list the same codes, with the same severity and meaning.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ISSUE_CODES } from '../../src/manifest/index.js';

it('docs/errors.md lists every issue code with its severity and meaning, and nothing else', () => {
  const doc = readFileSync(path.join(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (error|warning) \| ([^|]+) \| ([^|]+) \|$/gm)];
  const documented = Object.fromEntries(rows.map(([, code, severity, meaning]) => [code, { severity, meaning: meaning?.trim() }]));
  const catalog = Object.fromEntries(Object.entries(ISSUE_CODES).map(([code, info]) => [code, { severity: info.severity, meaning: info.meaning }]));
  assert.deepEqual(documented, catalog);
  assert.ok(rows.every((row) => (row[4] ?? '').trim().length > 0), 'every code says what to do');
});
