/** Branch and tag filters as CircleCI applies them: `/regex/` must match the whole name, strings are exact. */

export interface FilterSpec {
  readonly only?: string[];
  readonly ignore?: string[];
}

import { compilePattern } from './regex.js';

export const isRegexFilter = (pattern: string) =>
  pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/');

/** Whether a filter pattern matches a name; a refused pattern matches nothing (the compiler reports it). */
export function patternMatches(pattern: string, value: string): boolean {
  if (isRegexFilter(pattern)) {
    const m = compilePattern(pattern.slice(1, -1));
    return typeof m !== 'string' && m.test(value);
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
