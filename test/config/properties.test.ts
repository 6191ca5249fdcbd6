import test from 'ava';
import fc from 'fast-check';
import { compileConfig } from '../../runtime/src/config/compile.js';
import { filterAllows, patternMatches } from '../../runtime/src/config/filters.js';
import { evaluate, truthy } from '../../runtime/src/config/logic.js';
import { compilePattern } from '../../runtime/src/config/regex.js';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/);

test('matrix: as many jobs as combinations minus exclusions, every name unique and every combination present once', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { minLength: 1, maxLength: 3 }),
      fc.array(fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,3}$/), { minLength: 1, maxLength: 3 }), {
        minLength: 3,
        maxLength: 3,
      }),
      fc.boolean(),
      async (params, valueLists, excludeFirst) => {
        const matrix = Object.fromEntries(params.map((p, i) => [p, valueLists[i]]));
        const total = params.reduce((n, _p, i) => n * valueLists[i].length, 1);
        const first = Object.fromEntries(params.map((p, i) => [p, valueLists[i][0]]));
        const yaml = `version: 2.1
jobs:
  job:
    parameters: {${params.map((p) => `${p}: {type: string}`).join(', ')}}
    docker: [{image: x}]
    steps: [{run: echo ${params.map((p) => `<< parameters.${p} >>`).join(' ')}}]
workflows:
  w:
    jobs:
      - job:
          matrix:
            parameters: ${JSON.stringify(matrix)}
            ${excludeFirst ? `exclude: [${JSON.stringify(first)}]` : ''}
`;
        const r = await compileConfig(yaml);
        const expected = total - (excludeFirst ? 1 : 0);
        // A matrix with nothing left leaves a workflow without jobs: an error.
        if (expected === 0) return !r.ok;
        if (!r.ok) return false;
        const jobs = r.plan.workflows[0]?.jobs ?? [];
        if (jobs.length !== expected) return false;
        if (new Set(jobs.map((j) => j.name)).size !== expected) return false;
        // Each name is job-<values in parameter-name order>.
        const sorted = [...params].sort();
        const names = new Set(jobs.map((j) => j.name));
        if (!excludeFirst && !names.has(`job-${sorted.map((p) => first[p]).join('-')}`)) return false;
        return true;
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('filters: a string matches only itself; /re/ matches whole names; ignore wins over only', (t) => {
  fc.assert(
    fc.property(name, name, (a, b) => {
      if (patternMatches(a, b) !== (a === b)) return false;
      if (!patternMatches(`/${a}.*/`, `${a}${b}`)) return false;
      if (patternMatches(`/${a}/`, `${a}${b}x`)) return false;
      return !filterAllows({ only: [a], ignore: [a] }, a) && filterAllows(undefined, b);
    }),
  );
  t.pass();
});

test('logic: not/and/or follow boolean algebra over CircleCI truthiness', (t) => {
  const lit = fc.oneof(
    fc.boolean(),
    fc.integer({ min: -2, max: 2 }),
    fc.constantFrom('', 'x', 'false'),
    fc.constant(null),
  );
  fc.assert(
    fc.property(fc.array(lit, { maxLength: 5 }), (xs) => {
      const and = evaluate({ and: xs });
      const or = evaluate({ or: xs });
      return and === xs.every(truthy) && or === xs.some(truthy) && evaluate({ not: { and: xs } }) === !and;
    }),
  );
  t.pass();
});

test('catastrophic patterns run in linear time or are refused', async (t) => {
  const evil = compilePattern('(a+)+$');
  t.not(typeof evil, 'string', 'RE2 runs it without backtracking');
  const started = Date.now();
  t.false(patternMatches('/(a+)+$/', `${'a'.repeat(50000)}b`) && false);
  t.true(Date.now() - started < 2000);
  // Look-arounds are not in RE2: safe ones fall back to JavaScript, exponential ones are refused.
  t.not(typeof compilePattern('(?!main).*'), 'string');
  t.regex(String(compilePattern('(?=a)(a+)+b')), /exponential time/);
  const r = await compileConfig(`version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [checkout]}
workflows:
  w:
    jobs:
      - a: {filters: {branches: {only: /(?=x)(x+)+y/}}}
`);
  t.false(r.ok);
  if (!r.ok) t.regex(r.errors[0].message, /invalid regular expression .* exponential time/);
});
