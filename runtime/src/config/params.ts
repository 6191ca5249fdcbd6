/** Parameters: declarations, binding of arguments, and `<< … >>` interpolation. */

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

export const PARAM_TYPES = ['string', 'boolean', 'integer', 'enum', 'executor', 'steps', 'env_var_name'] as const;
const ENV_VAR_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface ParamDecl {
  readonly type: (typeof PARAM_TYPES)[number];
  readonly default?: unknown;
  readonly enum?: unknown[];
}

/** Reads a `parameters:` map; problems are returned as messages. */
export function readDecls(v: unknown, problems: string[]): Record<string, ParamDecl> {
  const out: Record<string, ParamDecl> = {};
  if (v === undefined || v === null) return out;
  if (!isObj(v)) {
    problems.push('`parameters` must be a map of parameter names to their declarations');
    return out;
  }
  for (const [name, d] of Object.entries(v)) {
    if (!isObj(d) || typeof d.type !== 'string' || !(PARAM_TYPES as readonly string[]).includes(d.type)) {
      problems.push(`parameter \`${name}\` needs a \`type\` (one of ${PARAM_TYPES.join(', ')})`);
      continue;
    }
    if (d.type === 'enum' && !Array.isArray(d.enum)) problems.push(`enum parameter \`${name}\` needs an \`enum\` list`);
    out[name] = {
      type: d.type as ParamDecl['type'],
      default: d.default,
      enum: Array.isArray(d.enum) ? d.enum : undefined,
    };
  }
  return out;
}

/** Checks one argument against its declaration; returns the value to substitute, or a problem. */
export function checkArg(name: string, decl: ParamDecl, value: unknown): { value: unknown } | { problem: string } {
  const bad = (what: string) => ({ problem: `argument \`${name}\` must be ${what}, got ${JSON.stringify(value)}` });
  switch (decl.type) {
    case 'string':
      if (value === null || typeof value === 'object') return bad('a string');
      return { value: String(value) };
    case 'boolean':
      if (typeof value === 'boolean') return { value };
      if (value === 'true' || value === 'false') return { value: value === 'true' };
      return bad('a boolean');
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return { value };
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return { value: Number(value) };
      return bad('an integer');
    case 'enum':
      if (!decl.enum?.some((e) => String(e) === String(value))) return bad(`one of ${JSON.stringify(decl.enum)}`);
      return { value: String(value) };
    case 'env_var_name':
      if (typeof value !== 'string' || !ENV_VAR_NAME.test(value)) return bad('an environment variable name');
      return { value };
    case 'steps':
      if (!Array.isArray(value)) return bad('a list of steps');
      return { value };
    case 'executor':
      if (typeof value !== 'string' && !isObj(value)) return bad('an executor name or {name, ...}');
      return { value };
  }
}

/**
 * Binds invocation arguments to declarations: defaults, required parameters, unknown arguments and
 * types. `ignore` lists keys of the invocation that are not arguments (e.g. a job's `requires`).
 */
export function bindArgs(
  decls: Record<string, ParamDecl>,
  args: Obj,
  ignore: readonly string[],
  problems: string[],
): Obj {
  const out: Obj = {};
  for (const k of Object.keys(args)) {
    if (!ignore.includes(k) && !(k in decls))
      problems.push(`unexpected argument \`${k}\` (declared: ${Object.keys(decls).join(', ') || 'none'})`);
  }
  for (const [name, decl] of Object.entries(decls)) {
    const given = name in args ? args[name] : decl.default;
    if (given === undefined) {
      if (decl.type === 'steps') out[name] = [];
      else problems.push(`missing argument \`${name}\` (a required ${decl.type} parameter)`);
      continue;
    }
    const r = checkArg(name, decl, given);
    if ('problem' in r) problems.push(r.problem);
    else out[name] = r.value;
  }
  return out;
}

export interface Values {
  /** `<< parameters.* >>` of the element being expanded. */
  readonly parameters?: Obj;
  /** `<< pipeline.* >>` values; `parameters` inside is absent where pipeline parameters are out of scope (orbs). */
  readonly pipeline?: Obj;
  /** `<< matrix.* >>` of a matrix job. */
  readonly matrix?: Obj;
}

const TOKEN = /\\?<<\s*([A-Za-z_][\w.-]*)\s*>>/g;
const WHOLE = /^<<\s*([A-Za-z_][\w.-]*)\s*>>$/;

function lookup(path: string, values: Values): { found: boolean; value?: unknown; known: boolean } {
  const [head, ...rest] = path.split('.');
  if (head !== 'parameters' && head !== 'pipeline' && head !== 'matrix') return { found: false, known: false };
  let cur: unknown = values[head as keyof Values];
  // parameters are always in scope (unknown ones are errors); pipeline and matrix values only where given.
  if (cur === undefined) return { found: false, known: head === 'parameters' };
  for (const seg of rest) {
    if (!isObj(cur) || !(seg in cur)) return { found: false, known: true };
    cur = cur[seg];
  }
  return { found: true, value: cur, known: true };
}

/**
 * Replaces `<< parameters.x >>`, `<< pipeline.… >>` and `<< matrix.x >>` in every string of a value.
 * A string that is exactly one reference takes the value itself (a boolean, a number, a list of
 * steps); inside a longer string it is written as text. `\<<` escapes. Unknown references are
 * reported; references of other kinds (e.g. `<< include(…) >>`) are left alone.
 */
export function interpolate(v: unknown, values: Values, problems: string[]): unknown {
  if (typeof v === 'string') {
    if (!v.includes('<<')) return v;
    const whole = WHOLE.exec(v);
    if (whole) {
      const r = lookup(whole[1], values);
      if (r.found) return r.value;
      if (r.known) problems.push(`unknown reference << ${whole[1]} >>`);
      return v;
    }
    return v.replace(TOKEN, (m, path: string) => {
      if (m.startsWith('\\')) return m.slice(1);
      const r = lookup(path, values);
      if (r.found) return typeof r.value === 'object' && r.value !== null ? JSON.stringify(r.value) : String(r.value);
      if (r.known) problems.push(`unknown reference << ${path} >>`);
      return m;
    });
  }
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const item of v) {
      const x = interpolate(item, values, problems);
      // A steps parameter inside a list of steps splices in.
      if (typeof item === 'string' && WHOLE.test(item) && Array.isArray(x)) out.push(...x);
      else out.push(x);
    }
    return out;
  }
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolate(x, values, problems);
    return out;
  }
  return v;
}
