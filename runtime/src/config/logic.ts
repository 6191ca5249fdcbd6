/** CircleCI logic statements (`when`/`unless`, workflow conditions), evaluated at compile time. */

import { compilePattern } from './regex.js';

/** CircleCI's falsy values: false, null/absent, 0, NaN, the empty string; everything else is truthy. */
export function truthy(v: unknown): boolean {
  if (v === false || v === null || v === undefined || v === '') return false;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  return true;
}

export class LogicError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Structural equality as `equal` compares values (numbers, strings, booleans, lists, maps). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => same(a[k], b[k]));
  }
  return false;
}

/**
 * Evaluates a logic statement: a literal, or a map with exactly one of `and`, `or`, `not`, `equal`,
 * `matches`. Deeply nested statements are bounded.
 */
export function evaluate(statement: unknown, depth = 0): boolean {
  if (depth > 64) throw new LogicError('logic statement nests too deeply');
  if (!isObj(statement)) return truthy(statement);
  const keys = Object.keys(statement);
  if (keys.length !== 1 || !['and', 'or', 'not', 'equal', 'matches', 'condition'].includes(keys[0])) {
    // A map that is not an operator is a (truthy) literal value.
    return true;
  }
  const [op] = keys;
  const arg = statement[op];
  switch (op) {
    case 'condition':
      return evaluate(arg, depth + 1);
    case 'and':
      if (!Array.isArray(arg)) throw new LogicError('`and` takes a list of logic statements');
      return arg.every((x) => evaluate(x, depth + 1));
    case 'or':
      if (!Array.isArray(arg)) throw new LogicError('`or` takes a list of logic statements');
      return arg.some((x) => evaluate(x, depth + 1));
    case 'not':
      return !evaluate(arg, depth + 1);
    case 'equal':
      if (!Array.isArray(arg) || arg.length < 1) throw new LogicError('`equal` takes a list of values');
      return arg.every((x) => same(x, arg[0]));
    case 'matches': {
      if (!isObj(arg) || typeof arg.pattern !== 'string' || arg.value === undefined) {
        throw new LogicError('`matches` takes a map with `pattern` and `value`');
      }
      const re = compilePattern(arg.pattern);
      if (typeof re === 'string') throw new LogicError(`\`matches\` pattern ${arg.pattern} is refused: ${re}`);
      return re.test(String(arg.value));
    }
  }
  return true;
}
