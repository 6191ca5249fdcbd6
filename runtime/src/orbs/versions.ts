/** Orb version matching: exact `1.2.3`, `1.2` (latest 1.2.x), `1` (latest 1.x.y), `volatile` (latest). */

export const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/;

const parts = (v: string) => v.split('.').map(Number);

export function compareVersions(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** The version a reference's version part selects among those published, or undefined. */
export function matchVersion(published: string[], wanted: string): string | undefined {
  const sorted = published.filter((v) => SEMVER.test(v)).sort(compareVersions);
  if (wanted === 'volatile') return sorted.at(-1);
  if (SEMVER.test(wanted)) return sorted.includes(wanted) ? wanted : undefined;
  if (/^\d+(\.\d+)?$/.test(wanted)) {
    const prefix = `${wanted}.`;
    return sorted.filter((v) => v.startsWith(prefix)).at(-1);
  }
  return undefined;
}

/** Splits `ns/name@version`. */
export function parseOrbRef(ref: string): { namespace: string; name: string; version: string } | undefined {
  const m = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(.+)$/i.exec(ref);
  return m ? { namespace: m[1], name: m[2], version: m[3] } : undefined;
}
