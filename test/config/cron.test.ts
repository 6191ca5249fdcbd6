import test from 'ava';
import fc from 'fast-check';
import { cronMatches, parseCron } from '../../runtime/src/config/cron.js';

const cron = (e: string) => {
  const c = parseCron(e);
  if (typeof c === 'string') throw new Error(c);
  return c;
};

test('cron: fields, ranges, steps, lists, names; day-of-month or day-of-week when both are set', (t) => {
  const at = (iso: string) => new Date(iso);
  t.true(cronMatches(cron('0 3 * * *'), at('2026-11-27T03:00:00Z')));
  t.false(cronMatches(cron('0 3 * * *'), at('2026-11-27T03:01:00Z')));
  t.true(cronMatches(cron('*/15 9-17 * * mon-fri'), at('2026-11-27T09:45:00Z')), 'Friday');
  t.false(cronMatches(cron('*/15 9-17 * * mon-fri'), at('2026-11-28T09:45:00Z')), 'Saturday');
  t.true(cronMatches(cron('0 0 1,15 * 0'), at('2026-11-15T00:00:00Z')), 'the 15th (a Sunday too)');
  t.true(cronMatches(cron('0 0 1 * 0'), at('2026-11-29T00:00:00Z')), 'a Sunday, not the 1st: either day matches');
  t.true(cronMatches(cron('30 2 * jan,dec 7'), at('2026-12-06T02:30:00Z')), '7 is Sunday');
  for (const bad of ['* * * *', '60 * * * *', '* 24 * * *', '*/0 * * * *', 'x * * * *', '5-1 * * * *']) {
    t.is(typeof parseCron(bad), 'string', bad);
  }
});

test('cron: "m h * * *" fires exactly once a day', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 }), (m, h) => {
      const c = cron(`${m} ${h} * * *`);
      let fired = 0;
      const start = Date.UTC(2026, 0, 1);
      for (let i = 0; i < 24 * 60; i++) if (cronMatches(c, new Date(start + i * 60000))) fired++;
      return fired === 1;
    }),
    { numRuns: 20 },
  );
  t.pass();
});
