import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { ConfigError } from './types.js';

export type Path = readonly (string | number)[];

/** Limits that keep hostile input bounded in time and memory. */
export const LIMITS = { maxBytes: 3 * 1024 * 1024, maxAliasCount: 1000, maxDepth: 64 } as const;

/**
 * A parsed YAML source that remembers where every value came from, so that every error can
 * say file:line:column.
 */
export class Source {
  readonly errors: ConfigError[] = [];
  readonly value: unknown;
  readonly #doc: ReturnType<typeof parseDocument> | undefined;
  readonly #lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    if (Buffer.byteLength(text) > LIMITS.maxBytes) {
      this.error([], 'RH_CONFIG_TOO_LARGE', `config is larger than ${LIMITS.maxBytes} bytes`);
      return;
    }
    const doc = parseDocument(text, { lineCounter: this.#lines, merge: true, uniqueKeys: true, prettyErrors: false });
    this.#doc = doc;
    for (const e of doc.errors) {
      const [line, column] = e.linePos?.[0] ? [e.linePos[0].line, e.linePos[0].col] : this.#at(e.pos[0]);
      this.errors.push({ code: 'RH_CONFIG_YAML', message: e.message.split('\n')[0], file, line, column });
    }
    if (this.errors.length) return;
    try {
      this.value = doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
    } catch (e) {
      this.error([], 'RH_CONFIG_YAML', (e as Error).message);
    }
    if (depth(this.value) > LIMITS.maxDepth) {
      this.error([], 'RH_CONFIG_TOO_DEEP', `config nests deeper than ${LIMITS.maxDepth} levels`);
      this.value = undefined;
    }
  }

  #at(offset: number): [number, number] {
    const p = this.#lines.linePos(offset);
    return [p.line, p.col];
  }

  /** Position of the value at path (or of its key when `key` is set), falling back to the nearest ancestor. */
  locate(path: Path, key = false): [number, number] {
    const doc = this.#doc;
    if (!doc) return [1, 1];
    let node: unknown = doc.contents;
    let best: [number, number] = [1, 1];
    const rangeOf = (n: unknown) => (n && typeof n === 'object' && 'range' in n ? (n as Node).range : undefined);
    for (const [i, seg] of path.entries()) {
      if (isAlias(node)) node = node.resolve(doc);
      const r = rangeOf(node);
      if (r) best = this.#at(r[0]);
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return best;
        if (i === path.length - 1 && key) {
          const kr = rangeOf(pair.key);
          return kr ? this.#at(kr[0]) : best;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return best;
      }
    }
    const r = rangeOf(node);
    return r ? this.#at(r[0]) : best;
  }

  error(path: Path, code: string, message: string, key = false): void {
    const [line, column] = this.locate(path, key);
    this.errors.push({ code, message, file: this.file, line, column });
  }
}

function depth(root: unknown): number {
  // Iterative: a recursive walk of hostile input could exhaust the stack.
  let max = 0;
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (d > max) max = d;
    if (max > LIMITS.maxDepth) return max;
    if (v && typeof v === 'object') for (const x of Object.values(v)) stack.push([x, d + 1]);
  }
  return max;
}
