/** Branch and tag filters as CircleCI applies them: `/regex/` must match the whole name, strings are exact. */

export interface FilterSpec {
  readonly only?: string[];
  readonly ignore?: string[];
}

/** Longest pattern we evaluate; together with RE2-free patterns of bounded size this keeps matching cheap. */
const MAX_PATTERN = 1000;

export function patternMatches(pattern: string, value: string): boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const body = pattern.slice(1, -1);
    if (body.length > MAX_PATTERN) return false;
    return new RegExp(`^(?:${body})$`).test(value);
  }
  return pattern === value;
}

export function filterAllows(spec: FilterSpec | undefined, value: string | undefined): boolean {
  if (!spec) return true;
  if (value === undefined) return false;
  if (spec.only && !spec.only.some((p) => patternMatches(p, value))) return false;
  if (spec.ignore?.some((p) => patternMatches(p, value))) return false;
  return true;
}
