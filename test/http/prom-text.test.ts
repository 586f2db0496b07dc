// The test suite's Prometheus text-format parser accepts what the format allows and rejects the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrometheusText } from './prom-text.js';

test('parses counters, labelled gauges, escapes and histograms', () => {
  const families = parsePrometheusText([
    '# HELP a_total Things that happened.',
    '# TYPE a_total counter',
    'a_total{kind="x\\"y\\\\z\\n"} 3',
    '# TYPE g gauge',
    'g 1.5e3 1700000000000',
    '# TYPE h histogram',
    'h_bucket{le="0.1"} 1',
    'h_bucket{le="+Inf"} 2',
    'h_sum 0.3',
    'h_count 2',
    '',
  ].join('\n'));
  assert.deepEqual(families.get('a_total')?.samples, [{ name: 'a_total', labels: { kind: 'x"y\\z\n' }, value: 3 }]);
  assert.equal(families.get('a_total')?.help, 'Things that happened.');
  assert.equal(families.get('g')?.samples[0]?.value, 1500);
  assert.equal(families.get('h')?.type, 'histogram');
  assert.equal(families.get('h')?.samples.length, 4);
});

test('rejects what a Prometheus server would not take', () => {
  const bad: [string, RegExp][] = [
    ['a 1', /newline/],
    ['a{b="c} 1\n', /unterminated/],
    ['a{b="\\x"} 1\n', /bad escape/],
    ['a{1b="c"} 1\n', /bad label name/],
    ['a one\n', /not a sample value/],
    ['a 1\na 2\n', /duplicate series/],
    ['a 1\nb 1\na{x="y"} 2\n', /not grouped/],
    ['# TYPE a summer\na 1\n', /unknown type/],
    ['a 1\n# TYPE a counter\n', /after its samples ended|after its first sample/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n', /below the previous/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n', /no \+Inf bucket/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\n', /differs from the \+Inf bucket/],
    ['# TYPE h histogram\nh_bucket 1\n', /without le/],
  ];
  for (const [text, error] of bad) assert.throws(() => parsePrometheusText(text), error, JSON.stringify(text));
});
