/** Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC as CircleCI does. */

export interface Cron {
  readonly fields: readonly Set<number>[];
  /** Day of month and day of week were both restricted: either may match (classic cron). */
  readonly eitherDay: boolean;
}

const RANGES: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];
const NAMES: Record<string, number>[] = [
  {},
  {},
  {},
  { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
  { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 },
];

/** Parses a cron expression; returns a message saying what is wrong instead when it is invalid. */
export function parseCron(expr: string): Cron | string {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5)
    return `a cron expression has 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  const fields: Set<number>[] = [];
  for (const [i, part] of parts.entries()) {
    const [lo, hi] = RANGES[i];
    const set = new Set<number>();
    for (const item of part.split(',')) {
      const m = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d+))?$/i.exec(item);
      if (!m) return `cron field "${part}" is not valid`;
      const step = m[2] ? Number(m[2]) : 1;
      const value = (s: string) => (/^\d+$/.test(s) ? Number(s) : NAMES[i][s.toLowerCase()]);
      let from = lo;
      let to = hi;
      if (m[1] !== '*') {
        const [a, b] = m[1].split('-');
        from = value(a);
        to = b === undefined ? (m[2] ? hi : from) : value(b);
      }
      if (
        from === undefined ||
        to === undefined ||
        Number.isNaN(from) ||
        from < lo ||
        to > hi ||
        from > to ||
        step < 1
      ) {
        return `cron field "${part}" is out of range ${lo}-${hi}`;
      }
      for (let v = from; v <= to; v += step) set.add(i === 4 && v === 7 ? 0 : v);
    }
    fields.push(set);
  }
  return { fields, eitherDay: parts[2] !== '*' && parts[4] !== '*' };
}

export function cronMatches(cron: Cron, at: Date): boolean {
  const [min, hour, dom, month, dow] = cron.fields;
  if (!min.has(at.getUTCMinutes()) || !hour.has(at.getUTCHours()) || !month.has(at.getUTCMonth() + 1)) return false;
  const d = dom.has(at.getUTCDate());
  const w = dow.has(at.getUTCDay());
  return cron.eitherDay ? d || w : d && w;
}
