// The output helpers the API commands add: unified diffs, coloured tables that stay aligned, ages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { age, painter, stateColour, table, unifiedDiff } from '../../src/cli/output.js';

const labels = { before: 'a (live)', after: 'a (file)' };
const lines = (n: number, from = 1) => Array.from({ length: n }, (_, k) => `line ${k + from}`);

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    assert.equal(unifiedDiff('x\ny\n', 'x\ny\n', labels), '');
  });

  it('shows a changed line with three lines of context, removal first', () => {
    const before = `${lines(10).join('\n')}\n`;
    const after = before.replace('line 5\n', 'line five\n');
    assert.equal(unifiedDiff(before, after, labels), [
      '--- a (live)', '+++ a (file)', '@@ -2,7 +2,7 @@',
      ' line 2', ' line 3', ' line 4', '-line 5', '+line five', ' line 6', ' line 7', ' line 8', '',
    ].join('\n'));
  });

  it('shows a new object as one hunk of additions', () => {
    assert.equal(unifiedDiff('', 'a: 1\nb: 2\n', labels), '--- a (live)\n+++ a (file)\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n');
  });

  it('splits changes far apart into separate hunks', () => {
    const before = lines(30);
    const after = [...before];
    after[1] = 'changed 2';
    after[27] = 'changed 28';
    const diff = unifiedDiff(`${before.join('\n')}\n`, `${after.join('\n')}\n`, labels);
    assert.deepEqual(diff.split('\n').filter((line) => line.startsWith('@@')), ['@@ -1,5 +1,5 @@', '@@ -25,6 +25,6 @@']);
  });
});

describe('table with colours', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  it('pads before painting, so coloured columns line up like plain ones', () => {
    const rows = [['alice-pgg', 'Running', 'True'], ['b', 'Failed', 'False']];
    const coloured = table(['NAME', 'PHASE', 'READY'], rows, painter(tty, {}), (row, column) => (column > 0 ? stateColour(row[column]!) : undefined));
    const bold = (text: string) => `\u001b[1m${text}\u001b[22m`;
    const green = (text: string) => `\u001b[32m${text}\u001b[39m`;
    const red = (text: string) => `\u001b[31m${text}\u001b[39m`;
    assert.equal(coloured, [
      `${bold('NAME     ')}  ${bold('PHASE  ')}  ${bold('READY')}`,
      `alice-pgg  ${green('Running')}  ${green('True')}`,
      `b          ${red('Failed ')}  ${red('False')}`,
    ].join('\n'));
  });

  it('prints no escape codes when the stream is not a terminal', () => {
    const text = table(['NAME', 'PHASE'], [['a', 'Running']], painter({ isTTY: false } as NodeJS.WriteStream, {}), () => 'green');
    assert.equal(text, 'NAME  PHASE\na     Running');
  });
});

describe('age', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  it('reads like kubectl', () => {
    assert.deepEqual(
      ['2026-11-25T11:59:15Z', '2026-11-25T11:48:00Z', '2026-11-25T07:00:00Z', '2026-11-20T12:00:00Z', undefined, 'not a time'].map((t) => age(t, now)),
      ['45s', '12m', '5h', '5d', '<unknown>', '<unknown>'],
    );
  });
});
