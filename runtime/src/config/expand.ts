import { parse } from 'yaml';
import { evaluate, type LogicError } from './logic.js';
import { bindArgs, interpolate, isObj, type Obj, type ParamDecl, readDecls, type Values } from './params.js';
import { LIMITS, type Path } from './source.js';
import { OTHER_STEP_TYPES, type OrbSource, type PipelineValues } from './types.js';

export const ORB_REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(volatile|\d+(?:\.\d+){0,2}|dev:[\w.-]+)$/i;

/** A namespace of reusable elements: the user's config, or one (possibly nested) orb. */
interface Scope {
  readonly label: string;
  readonly isOrb: boolean;
  readonly commands: Obj;
  readonly jobs: Obj;
  readonly executors: Obj;
  readonly orbs: Record<string, Scope>;
}

export interface ExpandError {
  readonly code: string;
  readonly message: string;
  /** Path in the user's config to blame. */
  readonly path: Path;
  readonly key?: boolean;
}

const BUILTIN_STEPS = new Set<string>(['run', 'checkout', 'deploy', 'when', 'unless', ...OTHER_STEP_TYPES]);
/** A step that stands for a command of a missing orb: the compiler skips it (the orb is reported). */
export const SKIP = '__roundhouse_skip__';
/** Key of the expanded config that holds jobs no workflow runs (checked, not planned). */
export const UNUSED = '__roundhouse_unused__';
const MISSING = Symbol('missing orb');
const WORKFLOW_JOB_KEYS = [
  'requires',
  'context',
  'filters',
  'name',
  'type',
  'matrix',
  'pre-steps',
  'post-steps',
  'serial-group',
  'override-with',
];
const MAX_EXPANSION_DEPTH = 32;
const MAX_MATRIX = 256;
const MAX_STEPS = 10000;

/**
 * Expands a 2.1 config (orbs, commands, executors, parameters, matrix, when/unless, pre/post-steps,
 * pipeline values) into the plain shape of a 2.0 config. Errors are collected, never thrown.
 */
export class Expander {
  readonly errors: ExpandError[] = [];
  #orbCache = new Map<string, Promise<Scope | string>>();
  #steps = 0;

  #pipeline: PipelineValues;
  /** Local names of orbs that could not be resolved: what refers to them is not reported again. */
  readonly missingOrbs = new Set<string>();
  /** Workflow job names dropped because their job comes from a missing orb. */
  readonly dropped = new Set<string>();

  constructor(
    readonly orbSource: OrbSource | undefined,
    pipeline: PipelineValues,
  ) {
    this.#pipeline = pipeline;
  }

  err(path: Path, code: string, message: string, key = false) {
    this.errors.push({ code, message, path, key });
  }

  #pipelineValues(inOrb: boolean): Obj {
    const p = this.#pipeline;
    return {
      id: p.id ?? '00000000-0000-0000-0000-000000000001',
      number: p.number ?? 1,
      trigger_source: p.triggerSource ?? 'api',
      project: { git_url: p.gitUrl ?? '', type: p.projectType ?? 'github' },
      git: { branch: p.branch ?? '', tag: p.tag ?? '', revision: p.revision ?? '', base_revision: p.revision ?? '' },
      schedule: { name: '', id: '' },
      ...(inOrb ? {} : { parameters: p.parameters ?? {} }),
    };
  }

  /** Loads a registry orb (once per reference) and everything it imports. */
  async #loadOrb(ref: string, depth: number): Promise<Scope | string> {
    let p = this.#orbCache.get(ref);
    if (!p) {
      p = (async () => {
        if (!this.orbSource) return `orb ${ref} cannot be resolved: no orb registry is available`;
        const found = await this.orbSource.resolve(ref);
        if (!found) return `orb ${ref} not found in the orb registry`;
        let doc: unknown;
        try {
          doc = parse(found.yaml, { maxAliasCount: LIMITS.maxAliasCount });
        } catch (e) {
          return `orb ${found.ref} is not valid YAML: ${(e as Error).message}`;
        }
        if (!isObj(doc)) return `orb ${found.ref} is not a map`;
        return this.#scope(doc, found.ref, true, depth + 1, []);
      })();
      this.#orbCache.set(ref, p);
    }
    return p;
  }

  async #scope(doc: Obj, label: string, isOrb: boolean, depth: number, path: Path): Promise<Scope | string> {
    if (depth > 8) return `orb imports nest deeper than 8 levels at ${label}`;
    const orbs: Record<string, Scope> = {};
    if (doc.orbs !== undefined && !isObj(doc.orbs))
      this.err([...path, 'orbs'], 'RH_CONFIG_TYPE', '`orbs` must be a map');
    for (const [name, def] of Object.entries(isObj(doc.orbs) ? doc.orbs : {})) {
      const at = [...path, 'orbs', name];
      if (typeof def === 'string') {
        if (!ORB_REF.test(def)) {
          this.err(
            at,
            'RH_CONFIG_ORB_REF',
            `orb reference \`${def}\` must look like namespace/orb@version (version: x.y.z, x.y, x or volatile)`,
          );
          continue;
        }
        const s = await this.#loadOrb(def, depth);
        if (typeof s === 'string') {
          this.err(isOrb ? path : at, 'RH_CONFIG_ORB_NOT_FOUND', isOrb ? `${s} (imported by ${label})` : s);
          if (!isOrb) this.missingOrbs.add(name);
        } else orbs[name] = s;
      } else if (isObj(def)) {
        const s = await this.#scope(def, `${label ? `${label}/` : ''}${name}`, true, depth + 1, at);
        if (typeof s === 'string') this.err(at, 'RH_CONFIG_ORB_NOT_FOUND', s);
        else orbs[name] = s;
      } else this.err(at, 'RH_CONFIG_ORB_REF', 'an orb is a registry reference (ns/orb@version) or an inline orb map');
    }
    const map = (k: string) => (isObj(doc[k]) ? (doc[k] as Obj) : {});
    return { label, isOrb, commands: map('commands'), jobs: map('jobs'), executors: map('executors'), orbs };
  }

  /** Finds `name` or `orb/name` (any depth) among a scope's elements of one kind. */
  #lookup(scope: Scope, kind: 'commands' | 'jobs' | 'executors', ref: string): { def: Obj; scope: Scope } | undefined {
    const slash = ref.indexOf('/');
    if (slash < 0) {
      const def = scope[kind][ref];
      return isObj(def) ? { def, scope } : undefined;
    }
    const orb = scope.orbs[ref.slice(0, slash)];
    return orb ? this.#lookup(orb, kind, ref.slice(slash + 1)) : undefined;
  }

  #fromMissingOrb(scope: Scope, ref: string): boolean {
    return !scope.isOrb && ref.includes('/') && this.missingOrbs.has(ref.slice(0, ref.indexOf('/')));
  }

  #values(scope: Scope, parameters?: Obj, matrix?: Obj): Values {
    return { parameters, pipeline: this.#pipelineValues(scope.isOrb), matrix };
  }

  #interp<T>(v: T, values: Values, path: Path): T {
    const problems: string[] = [];
    const out = interpolate(v, values, problems);
    for (const p of new Set(problems)) this.err(path, 'RH_CONFIG_PARAMETER', p);
    return out as T;
  }

  #bind(decls: unknown, args: Obj, ignore: readonly string[], what: string, path: Path): Obj {
    const problems: string[] = [];
    const d: Record<string, ParamDecl> = readDecls(decls, problems);
    const bound = bindArgs(d, args, ignore, problems);
    for (const p of problems) this.err(path, 'RH_CONFIG_PARAMETER', `${what}: ${p}`);
    return bound;
  }

  /** Expands a list of steps: commands, when/unless, steps parameters. */
  #expandSteps(steps: unknown, scope: Scope, path: Path, depth: number): unknown[] {
    if (!Array.isArray(steps)) {
      this.err(path, 'RH_CONFIG_STEPS', '`steps` must be a list');
      return [];
    }
    if (depth > MAX_EXPANSION_DEPTH) {
      this.err(
        path,
        'RH_CONFIG_RECURSION',
        `commands nest deeper than ${MAX_EXPANSION_DEPTH} levels (a command that invokes itself?)`,
      );
      return [];
    }
    const out: unknown[] = [];
    for (const [i, step] of steps.entries()) {
      if (++this.#steps > MAX_STEPS) {
        if (this.#steps === MAX_STEPS + 1)
          this.err(path, 'RH_CONFIG_TOO_LARGE', `config expands to more than ${MAX_STEPS} steps`);
        return out;
      }
      const at = [...path, i];
      let name: string;
      let args: unknown;
      if (typeof step === 'string') {
        name = step;
        args = undefined;
      } else if (isObj(step) && Object.keys(step).length === 1) {
        [name, args] = Object.entries(step)[0];
      } else {
        out.push(step);
        continue;
      }
      if (name === 'steps' && (Array.isArray(args) || args === null)) {
        // `- steps: [...]` (often `- steps: << parameters.x >>`) splices a list of steps in.
        out.push(...this.#expandSteps(args ?? [], scope, [...at, 'steps'], depth + 1));
        continue;
      }
      if (name === 'when' || name === 'unless') {
        if (!isObj(args) || !('condition' in args) || !Array.isArray(args.steps)) {
          this.err(at, 'RH_CONFIG_STEP', `\`${name}\` step needs \`condition\` and \`steps\``);
          continue;
        }
        let cond: boolean;
        try {
          cond = evaluate(args.condition);
        } catch (e) {
          this.err([...at, name, 'condition'], 'RH_CONFIG_LOGIC', (e as LogicError).message);
          continue;
        }
        if (cond === (name === 'when'))
          out.push(...this.#expandSteps(args.steps, scope, [...at, name, 'steps'], depth + 1));
        continue;
      }
      if (BUILTIN_STEPS.has(name) && !this.#lookup(scope, 'commands', name)) {
        out.push(step);
        continue;
      }
      const found = this.#lookup(scope, 'commands', name);
      if (!found && this.#fromMissingOrb(scope, name)) {
        out.push({ [SKIP]: name });
        continue;
      }
      if (!found) {
        // Left in place: the compiler reports it where it stands.
        out.push(step);
        continue;
      }
      const given = isObj(args) ? args : {};
      const params = this.#bind(found.def.parameters, given, [], `command \`${name}\``, at);
      // Steps passed as arguments belong to the caller's scope: expand them there.
      for (const [k, v] of Object.entries(params)) {
        if (isObj(found.def.parameters) && isObj(found.def.parameters[k]) && found.def.parameters[k].type === 'steps') {
          params[k] = this.#expandSteps(v, scope, at, depth + 1);
        }
      }
      const body = this.#interp(found.def.steps, this.#values(found.scope, params), at);
      out.push(...this.#expandSteps(body, found.scope, at, depth + 1));
    }
    return out;
  }

  /** Resolves `executor:` of a job into executor keys (docker/machine/macos, resource_class, …). */
  #executor(ref: unknown, scope: Scope, path: Path): Obj | undefined {
    const name = typeof ref === 'string' ? ref : isObj(ref) ? String(ref.name ?? '') : '';
    const found =
      this.#lookup(scope, 'executors', name) ??
      (scope.isOrb ? this.#lookup(this.#root!, 'executors', name) : undefined);
    if (!found) return undefined;
    const args = isObj(ref) ? Object.fromEntries(Object.entries(ref).filter(([k]) => k !== 'name')) : {};
    const params = this.#bind(found.def.parameters, args, [], `executor \`${name}\``, path);
    const body = this.#interp(found.def, this.#values(found.scope, params), path) as Obj;
    delete body.parameters;
    delete body.description;
    return body;
  }

  #root: Scope | undefined;

  /** Expands one job invocation into a plain job. */
  #job(
    ref: string,
    args: Obj,
    extraSteps: { pre?: unknown; post?: unknown },
    scope: Scope,
    path: Path,
    matrix?: Obj,
  ): Obj | typeof MISSING | undefined {
    const found = this.#lookup(scope, 'jobs', ref);
    if (!found) return undefined;
    // Blame a user's own job definition where it stands; an orb's job, where it is invoked.
    const bodyPath: Path = !found.scope.isOrb && !ref.includes('/') ? ['jobs', ref] : path;
    const params = this.#bind(found.def.parameters, args, WORKFLOW_JOB_KEYS, `job \`${ref}\``, path);
    const body = this.#interp(
      Object.fromEntries(Object.entries(found.def).filter(([k]) => k !== 'parameters' && k !== 'description')),
      this.#values(found.scope, params, matrix),
      path,
    ) as Obj;
    if (body.executor !== undefined) {
      const exName =
        typeof body.executor === 'string'
          ? body.executor
          : isObj(body.executor)
            ? String(body.executor.name ?? '')
            : '';
      if (this.#fromMissingOrb(found.scope, exName)) return MISSING;
      const ex = this.#executor(body.executor, found.scope, [...path]);
      // An unknown executor stays, for the compiler to report where it stands.
      if (ex) delete body.executor;
      if (ex) {
        // Job keys override the executor's; environment maps merge with the job winning.
        const env =
          isObj(ex.environment) || isObj(body.environment)
            ? { ...(isObj(ex.environment) ? ex.environment : {}), ...(isObj(body.environment) ? body.environment : {}) }
            : undefined;
        for (const [k, v] of Object.entries(ex)) if (!(k in body)) body[k] = v;
        if (env) body.environment = env;
      }
    }
    const pre = extraSteps.pre === undefined ? [] : this.#expandSteps(extraSteps.pre, scope, [...path, 'pre-steps'], 0);
    const post =
      extraSteps.post === undefined ? [] : this.#expandSteps(extraSteps.post, scope, [...path, 'post-steps'], 0);
    if (body.steps !== undefined || pre.length || post.length) {
      body.steps = [...pre, ...this.#expandSteps(body.steps ?? [], found.scope, [...bodyPath, 'steps'], 0), ...post];
    }
    return body;
  }

  async expand(root: Obj): Promise<Obj> {
    this.#pipelineParameters(root);
    const scope = await this.#scope(root, '', false, 0, []);
    if (typeof scope === 'string') {
      this.err([], 'RH_CONFIG_ORB_NOT_FOUND', scope);
      return { version: root.version, jobs: {}, workflows: {} };
    }
    this.#root = scope;
    const jobs: Obj = {};
    const workflows: Obj = {};
    const rawWorkflows = isObj(root.workflows) ? root.workflows : undefined;
    if (!rawWorkflows) {
      // No workflows: the `build` job runs alone (2.0 behaviour).
      if (isObj(root.jobs) && isObj(root.jobs.build)) {
        const job = this.#job('build', {}, {}, scope, ['jobs', 'build']);
        if (job && job !== MISSING) jobs.build = job;
      }
      return { version: root.version, jobs, ...(root.workflows === undefined ? {} : { workflows: root.workflows }) };
    }
    const byContent = new Map<string, string>();
    const addJob = (ref: string, name: string, body: Obj): string => {
      // One definition per distinct expanded job: invocations that expand alike share it (named
      // after the job), those with other arguments get their own (named after the invocation).
      const content = `${ref}\0${JSON.stringify(body)}`;
      const existing = byContent.get(content);
      if (existing) return existing;
      let key = ref in jobs ? name : ref;
      for (let n = 2; key in jobs; n++) key = `${name}-${n}`;
      jobs[key] = body;
      byContent.set(content, key);
      return key;
    };
    for (const [wname, wdef] of Object.entries(rawWorkflows)) {
      if (wname === 'version') continue;
      const wpath = ['workflows', wname];
      if (!isObj(wdef)) {
        workflows[wname] = wdef;
        continue;
      }
      const w = this.#interp(
        Object.fromEntries(Object.entries(wdef).filter(([k]) => k !== 'jobs')),
        this.#values(scope),
        wpath,
      ) as Obj;
      try {
        if (w.when !== undefined && !evaluate(w.when)) continue;
        if (w.unless !== undefined && evaluate(w.unless)) continue;
      } catch (e) {
        this.err([...wpath, w.when !== undefined ? 'when' : 'unless'], 'RH_CONFIG_LOGIC', (e as Error).message);
        continue;
      }
      if (!Array.isArray(wdef.jobs)) {
        workflows[wname] = { ...w, jobs: wdef.jobs };
        continue;
      }
      const entries: unknown[] = [];
      const aliases = new Map<string, string[]>();
      for (const [i, entry] of wdef.jobs.entries()) {
        const jp = [...wpath, 'jobs', i];
        let ref: string;
        let opts: Obj;
        if (typeof entry === 'string') {
          ref = entry;
          opts = {};
        } else if (isObj(entry) && Object.keys(entry).length === 1) {
          ref = Object.keys(entry)[0];
          opts = isObj(entry[ref]) ? (entry[ref] as Obj) : {};
        } else {
          entries.push(entry);
          continue;
        }
        const op = typeof entry === 'string' ? jp : [...jp, ref];
        opts = this.#interp(opts, this.#values(scope), op);
        if (opts.type === 'approval') {
          entries.push({ [ref]: opts });
          continue;
        }
        if (!this.#lookup(scope, 'jobs', ref) && this.#fromMissingOrb(scope, ref)) {
          this.dropped.add(String(opts.name ?? ref));
          continue;
        }
        if (!this.#lookup(scope, 'jobs', ref)) {
          // The later stage reports unknown jobs with their position.
          entries.push(typeof entry === 'string' ? entry : { [ref]: opts });
          continue;
        }
        const combos = this.#matrix(opts.matrix, [...op, 'matrix']);
        for (const combo of combos ?? [undefined]) {
          const args = { ...opts, ...(combo ?? {}) };
          const name = combo
            ? opts.name !== undefined
              ? String(this.#interp(opts.name, { matrix: combo }, [...op, 'name']))
              : `${ref}-${Object.keys(combo)
                  .sort()
                  .map((k) => String(combo[k]))
                  .join('-')}`
            : String(opts.name ?? ref);
          const body = this.#job(ref, args, { pre: opts['pre-steps'], post: opts['post-steps'] }, scope, op, combo);
          if (body === MISSING) {
            this.dropped.add(name);
            if (combo)
              this.dropped.add(isObj(opts.matrix) && typeof opts.matrix.alias === 'string' ? opts.matrix.alias : ref);
            continue;
          }
          if (!body) continue;
          const key = addJob(ref, name, body);
          const wj: Obj = {};
          if (key !== name || name !== ref) wj.name = name;
          for (const k of ['requires', 'context', 'filters', 'type']) {
            if (opts[k] !== undefined) wj[k] = combo ? this.#interp(opts[k], { matrix: combo }, op) : opts[k];
          }
          entries.push({ [key]: wj });
          if (combo) {
            const alias = isObj(opts.matrix) && typeof opts.matrix.alias === 'string' ? opts.matrix.alias : ref;
            aliases.set(alias, [...(aliases.get(alias) ?? []), name]);
          }
        }
      }
      // `requires` on a matrix alias means every job of that matrix.
      for (const e of entries) {
        if (!isObj(e)) continue;
        const o = Object.values(e)[0];
        if (isObj(o) && Array.isArray(o.requires)) {
          o.requires = o.requires.flatMap((r) =>
            typeof r === 'string' && aliases.has(r) && !aliases.get(r)!.includes(r) ? aliases.get(r)! : [r],
          );
        }
      }
      workflows[wname] = {
        ...Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'when' && k !== 'unless')),
        jobs: entries,
      };
    }
    // The user's jobs that no workflow runs are still checked (those that need arguments cannot be).
    const unused: Obj = {};
    for (const [name, def] of Object.entries(isObj(root.jobs) ? root.jobs : {})) {
      const needsArgs =
        isObj(def) &&
        isObj(def.parameters) &&
        Object.values(def.parameters).some((d) => isObj(d) && d.default === undefined && d.type !== 'steps');
      if (needsArgs || name in jobs || [...byContent.values()].includes(name)) continue;
      const body = this.#job(name, {}, {}, scope, ['jobs', name]);
      if (body && body !== MISSING) unused[name] = body;
    }
    return { version: root.version, jobs, workflows, [UNUSED]: unused };
  }

  /** Expands a matrix stanza into argument sets (undefined when there is no matrix). */
  #matrix(m: unknown, path: Path): Obj[] | undefined {
    if (m === undefined) return undefined;
    if (!isObj(m) || !isObj(m.parameters)) {
      this.err(path, 'RH_CONFIG_MATRIX', '`matrix` needs `parameters`: a map of parameter names to lists of values');
      return [];
    }
    const names = Object.keys(m.parameters).sort();
    let combos: Obj[] = [{}];
    for (const n of names) {
      const values = m.parameters[n];
      if (!Array.isArray(values) || values.length === 0) {
        this.err(
          [...path, 'parameters', n],
          'RH_CONFIG_MATRIX',
          `matrix parameter \`${n}\` needs a non-empty list of values`,
        );
        return [];
      }
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [n]: v })));
      if (combos.length > MAX_MATRIX) {
        this.err(path, 'RH_CONFIG_MATRIX', `matrix expands to more than ${MAX_MATRIX} jobs`);
        return [];
      }
    }
    const exclude = Array.isArray(m.exclude) ? m.exclude.filter(isObj) : [];
    return combos.filter((c) => !exclude.some((x) => names.every((n) => String(x[n]) === String(c[n]))));
  }

  /** Validates pipeline parameters (declarations and the values a trigger gave) and binds them. */
  #pipelineParameters(root: Obj): void {
    const problems: string[] = [];
    const decls = readDecls(root.parameters, problems);
    for (const p of problems) this.err(['parameters'], 'RH_CONFIG_PARAMETER', p);
    const argProblems: string[] = [];
    const bound = bindArgs(decls, this.#pipeline.parameters ?? {}, [], argProblems);
    for (const p of argProblems) this.err(['parameters'], 'RH_CONFIG_PIPELINE_PARAMETER', `pipeline parameters: ${p}`);
    this.#pipeline = { ...this.#pipeline, parameters: bound };
  }
}
