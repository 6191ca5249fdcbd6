import { createRequire } from 'node:module';
import safeRegex from 'safe-regex2';

/** RE2 (a WebAssembly module of a few MiB) is loaded the first time a pattern is compiled. */
let re2: typeof import('re2-wasm').RE2 | undefined;
const RE2 = () => {
  re2 ??= (createRequire(import.meta.url)('re2-wasm') as typeof import('re2-wasm')).RE2;
  return re2;
};

/** Longest pattern accepted. */
export const MAX_PATTERN = 1000;

export interface Matcher {
  test(value: string): boolean;
}

const cache = new Map<string, Matcher | string>();

/**
 * Compiles a filter or `matches` pattern so that it matches the whole value, in linear time: with
 * RE2 (no backtracking). Patterns RE2 cannot run (look-arounds, back-references) fall back to the
 * JavaScript engine only when they cannot backtrack catastrophically; others are refused.
 * Returns the matcher, or a message saying why the pattern is refused.
 */
export function compilePattern(body: string): Matcher | string {
  const hit = cache.get(body);
  if (hit !== undefined) return hit;
  let out: Matcher | string;
  if (body.length > MAX_PATTERN) out = `pattern is longer than ${MAX_PATTERN} characters`;
  else {
    try {
      out = new (RE2())(`^(?:${body})$`, 'u');
    } catch (e) {
      let js: RegExp | undefined;
      try {
        js = new RegExp(`^(?:${body})$`);
      } catch (e2) {
        js = undefined;
        out = (e2 as Error).message;
      }
      if (js)
        out = safeRegex(js)
          ? js
          : `${(e as Error).message.replace(/^Invalid regular expression: /, '')}, and the pattern could take exponential time in a backtracking engine`;
      else out ??= (e as Error).message;
    }
  }
  if (cache.size > 1000) cache.clear();
  cache.set(body, out);
  return out;
}
