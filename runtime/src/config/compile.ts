import { stringify } from 'yaml';
import { type FilterSpec, filterAllows, isRegexFilter } from './filters.js';
import { parseCron } from './cron.js';
import { compilePattern } from './regex.js';
import { Expander, SKIP, UNUSED } from './expand.js';
import { type Path, Source } from './source.js';
import { OTHER_STEP_TYPES } from './types.js';
import type {
  CompileResult,
  DockerImage,
  OtherStepType,
  ScheduleTrigger,
  ExecutorPlan,
  JobPlan,
  PipelineContext,
  Plan,
  StepPlan,
  StepWhen,
  WorkflowJobPlan,
  WorkflowPlan,
} from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const NAME_RE = /^[A-Za-z][A-Za-z\s\d_-]*$/;
const DEFAULT_NO_OUTPUT_TIMEOUT = 600;
const REQUIRE_STATUSES = ['success', 'failed', 'canceled', 'not_run'];
const STEP_TITLES: Record<OtherStepType, string> = {
  save_cache: 'Saving cache',
  restore_cache: 'Restoring cache',
  store_artifacts: 'Uploading artifacts',
  store_test_results: 'Uploading test results',
  persist_to_workspace: 'Persisting to workspace',
  attach_workspace: 'Attaching workspace',
  add_ssh_keys: 'Install additional SSH keys',
  setup_remote_docker: 'Setup a remote Docker engine',
};

/** Parses a CircleCI duration ("10m", "1h", "30s", "20") into seconds. */
export function parseDuration(v: unknown): number | undefined {
  const m = /^(\d+)(s|m|h)?$/.exec(String(v).trim());
  if (!m) return undefined;
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] ?? 's'];
}

const scalarString = (v: unknown) => (v === null || v === undefined ? '' : String(v));

/**
 * Compiles a `.circleci/config.yml` into the plan the conductor runs. Reads nothing but its
 * arguments; registry orbs come through `ctx.orbs`.
 */
export async function compileConfig(
  text: string,
  ctx: PipelineContext = {},
  file = '.circleci/config.yml',
): Promise<CompileResult> {
  const src = new Source(file, text);
  if (src.errors.length) return { ok: false, errors: src.errors };
  const root = src.value;
  if (!isObj(root)) {
    src.error([], 'RH_CONFIG_NOT_A_MAP', 'config must be a YAML map with at least `version` and `jobs`');
    return { ok: false, errors: src.errors };
  }
  const version = String(root.version ?? '');
  let expanded: Obj = root;
  let dropped = new Set<string>();
  if (version === '2.1') {
    const expander = new Expander(ctx.orbs, { ...ctx.pipeline, branch: ctx.branch, tag: ctx.tag });
    expanded = await expander.expand(root);
    for (const e of expander.errors) src.error(e.path, e.code, e.message, e.key);
    dropped = expander.dropped;
  } else {
    for (const k of ['orbs', 'commands', 'parameters'] as const) {
      if (root[k] !== undefined) src.error([k], 'RH_CONFIG_NEEDS_21', `\`${k}\` needs version 2.1`, true);
    }
  }
  const c = new Compiler(src, ctx, dropped);
  const plan = c.run(root, expanded);
  if (src.errors.length || !plan) {
    // In the order of the file, as a reader goes through it.
    const errors = [...src.errors].sort((a, b) => a.line - b.line || a.column - b.column);
    return { ok: false, errors };
  }
  return { ok: true, plan, compiled: toCompiledYaml(plan) };
}

class Compiler {
  #version = '2.1';
  readonly schedules: ScheduleTrigger[] = [];
  #executors: Obj = {};
  constructor(
    readonly src: Source,
    readonly ctx: PipelineContext,
    /** Workflow jobs left out because their orb is missing (reported once, as the orb). */
    readonly dropped: Set<string>,
  ) {}

  err(path: Path, code: string, message: string, key = false) {
    this.src.error(path, code, message, key);
  }

  /** Checks the source config's top level and compiles the (expanded) config into a plan. */
  run(source: Obj, root: Obj): Plan | undefined {
    const version = source.version;
    if (version === undefined) this.err([], 'RH_CONFIG_VERSION_MISSING', 'config has no `version` (use 2.1)');
    else if (!['2', '2.0', '2.1'].includes(String(version))) {
      this.err(
        ['version'],
        'RH_CONFIG_VERSION_UNSUPPORTED',
        `version ${String(version)} is not supported (use 2, 2.0 or 2.1)`,
      );
    } else this.#version = String(version) === '2' ? '2.0' : String(version);
    // Other top-level keys are allowed and ignored, as CircleCI does: configs keep YAML anchors
    // under keys such as `references:`, `defaults:` or `aliases:`.
    if (source.setup !== undefined && typeof source.setup !== 'boolean')
      this.err(['setup'], 'RH_CONFIG_TYPE', '`setup` must be true or false', true);
    if (source.setup === true && this.#version !== '2.1')
      this.err(['setup'], 'RH_CONFIG_NEEDS_21', 'setup workflows need version 2.1', true);
    if (source.executors !== undefined) {
      if (this.#version !== '2.1') this.err(['executors'], 'RH_CONFIG_NEEDS_21', '`executors` needs version 2.1', true);
      if (isObj(source.executors)) this.#executors = root === source ? source.executors : {};
      else this.err(['executors'], 'RH_CONFIG_TYPE', '`executors` must be a map of executor definitions');
    }
    if (isObj(source.jobs)) {
      for (const name of Object.keys(source.jobs)) {
        if (!NAME_RE.test(name))
          this.err(
            ['jobs', name],
            'RH_CONFIG_NAME',
            `job name \`${name}\` must start with a letter and use letters, digits, spaces, _ or -`,
            true,
          );
      }
    }
    const jobs: Record<string, JobPlan> = {};
    if (!isObj(root.jobs)) {
      this.err(root.jobs === undefined ? [] : ['jobs'], 'RH_CONFIG_JOBS_MISSING', 'config needs a `jobs` map');
    } else {
      for (const [name, def] of Object.entries(root.jobs)) {
        const job = this.job(name, def);
        if (job) jobs[name] = job;
      }
    }
    // Jobs no workflow runs are checked too, as CircleCI does, but not planned.
    if (isObj(root[UNUSED])) for (const [name, def] of Object.entries(root[UNUSED] as Obj)) this.job(name, def);
    const workflows = this.workflows(root.workflows, isObj(root.jobs) ? root.jobs : {});
    return {
      version: this.#version,
      jobs,
      workflows,
      schedules: this.schedules,
      ...(source.setup === true ? { setup: true } : {}),
    };
  }

  env(path: Path, v: unknown): Record<string, string> {
    if (v === undefined || v === null) return {};
    const out: Record<string, string> = {};
    if (Array.isArray(v)) {
      // Legacy list form: [{KEY: value}, "KEY=value"]
      for (const [i, item] of v.entries()) {
        if (isObj(item)) Object.assign(out, this.env([...path, i], item));
        else if (typeof item === 'string' && item.includes('='))
          out[item.slice(0, item.indexOf('='))] = item.slice(item.indexOf('=') + 1);
        else this.err([...path, i], 'RH_CONFIG_TYPE', 'environment entries must be KEY: value');
      }
      return out;
    }
    if (typeof v === 'string' && v.includes('=')) return { [v.slice(0, v.indexOf('='))]: v.slice(v.indexOf('=') + 1) };
    if (!isObj(v)) {
      this.err(path, 'RH_CONFIG_TYPE', '`environment` must be a map of NAME: value');
      return {};
    }
    for (const [k, val] of Object.entries(v)) {
      if (isObj(val) || Array.isArray(val))
        this.err([...path, k], 'RH_CONFIG_TYPE', `environment value of ${k} must be a string`);
      else out[k] = scalarString(val);
    }
    return out;
  }

  executor(path: Path, def: Obj): ExecutorPlan | undefined {
    let base: Obj = def;
    if (def.executor !== undefined) {
      const ref = def.executor;
      const name = typeof ref === 'string' ? ref : isObj(ref) ? String(ref.name ?? '') : '';
      const found = this.#executors[name];
      if (!isObj(found)) {
        this.err(
          [...path, 'executor'],
          'RH_CONFIG_EXECUTOR_NOT_FOUND',
          `executor \`${name}\` is not defined in \`executors\``,
        );
        return undefined;
      }
      // Job keys override the executor's wholesale; environment maps merge (job wins).
      base = { ...found, ...Object.fromEntries(Object.entries(def).filter(([k]) => k !== 'executor')) };
      if (isObj(found.environment) && isObj(def.environment))
        base.environment = { ...found.environment, ...def.environment };
      else if (found.environment !== undefined && def.environment === undefined) base.environment = found.environment;
    }
    const kinds = (['docker', 'machine', 'macos'] as const).filter((k) => base[k] !== undefined && base[k] !== false);
    if (kinds.length !== 1) {
      this.err(
        path,
        'RH_CONFIG_EXECUTOR',
        kinds.length
          ? `job has more than one executor: ${kinds.join(', ')}`
          : 'job has no executor: give it `docker`, `machine`, `macos` or `executor`',
        true,
      );
      return undefined;
    }
    const kind = kinds[0];
    const resource_class = base.resource_class === undefined ? 'medium' : String(base.resource_class);
    if (kind === 'docker') {
      if (!Array.isArray(base.docker) || base.docker.length === 0) {
        this.err(
          [...path, 'docker'],
          'RH_CONFIG_TYPE',
          '`docker` must be a list of images, the first being the primary container',
        );
        return undefined;
      }
      const images: DockerImage[] = [];
      // Registry credentials stay as written: `${VAR}` references are resolved by the executor from the job's environment.
      const strings = (o: Record<string, unknown>, keys: string[]) =>
        Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, String(o[k])]));
      for (const [i, img] of base.docker.entries()) {
        if (!isObj(img) || typeof img.image !== 'string') {
          this.err([...path, 'docker', i], 'RH_CONFIG_TYPE', 'each docker entry needs an `image`');
          continue;
        }
        const list = (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]);
        images.push({
          image: img.image,
          name: img.name === undefined ? undefined : String(img.name),
          entrypoint: list(img.entrypoint),
          command: list(img.command),
          user: img.user === undefined ? undefined : String(img.user),
          environment: this.env([...path, 'docker', i, 'environment'], img.environment),
          ...(isObj(img.auth) ? { auth: strings(img.auth, ['username', 'password']) } : {}),
          ...(isObj(img.aws_auth)
            ? {
                aws_auth: strings(img.aws_auth, [
                  'aws_access_key_id',
                  'aws_secret_access_key',
                  'oidc_role_arn',
                  'region',
                ]),
              }
            : {}),
        });
      }
      return { type: 'docker', images, resource_class };
    }
    const m = base[kind];
    const image = isObj(m) && m.image !== undefined ? String(m.image) : undefined;
    if (isObj(m) && m.resource_class !== undefined && base.resource_class !== undefined) {
      this.err(
        [...path, kind, 'resource_class'],
        'RH_CONFIG_EXECUTOR',
        `\`resource_class\` is given both inside \`${kind}\` and beside it; keep one`,
      );
    }
    const rc = isObj(m) && m.resource_class !== undefined ? String(m.resource_class) : resource_class;
    if (
      kind === 'machine' &&
      rc.startsWith('windows.') !== (image?.startsWith('windows-') ?? false) &&
      (image !== undefined || rc.startsWith('windows.'))
    ) {
      this.err(
        [...path, 'resource_class'],
        'RH_CONFIG_EXECUTOR',
        `resource class \`${rc}\` does not fit machine image \`${image ?? 'default'}\` (Windows classes need a windows-* image, and back)`,
      );
    }
    return { type: kind, images: [], image, resource_class: rc };
  }

  job(name: string, def: unknown): JobPlan | undefined {
    const path = ['jobs', name];
    if (!isObj(def)) {
      this.err(path, 'RH_CONFIG_TYPE', `job \`${name}\` must be a map`);
      return undefined;
    }
    const known = [
      'docker',
      'machine',
      'macos',
      'executor',
      'shell',
      'steps',
      'working_directory',
      'parallelism',
      'environment',
      'resource_class',
      'parameters',
      'branches',
      'description',
      'circleci_ip_ranges',
      'retention',
      'plan_name',
      'key',
      'type',
    ];
    for (const k of Object.keys(def)) {
      if (!known.includes(k))
        this.err([...path, k], 'RH_CONFIG_UNKNOWN_KEY', `unknown key \`${k}\` in job \`${name}\``, true);
    }
    const executor = this.executor(path, def);
    const base =
      def.executor !== undefined &&
      isObj(this.#executors[String(isObj(def.executor) ? def.executor.name : def.executor)])
        ? (this.#executors[String(isObj(def.executor) ? def.executor.name : def.executor)] as Obj)
        : {};
    const environment = {
      ...this.env([...path, 'environment'], base.environment),
      ...this.env([...path, 'environment'], def.environment),
    };
    let parallelism = 1;
    if (def.parallelism !== undefined) {
      const p = Number(def.parallelism);
      if (!Number.isInteger(p) || p < 1)
        this.err([...path, 'parallelism'], 'RH_CONFIG_TYPE', '`parallelism` must be a positive integer');
      else parallelism = p;
    }
    if (!Array.isArray(def.steps)) {
      this.err(
        def.steps === undefined ? path : [...path, 'steps'],
        'RH_CONFIG_STEPS',
        `job \`${name}\` needs a list of \`steps\``,
        def.steps === undefined,
      );
      return undefined;
    }
    const steps = def.steps.flatMap((s, i) => this.step([...path, 'steps', i], s) ?? []);
    if (!executor) return undefined;
    const shell = def.shell ?? base.shell;
    const wd = def.working_directory ?? base.working_directory;
    return {
      executor,
      environment,
      working_directory: wd === undefined ? '~/project' : String(wd),
      shell: shell === undefined ? undefined : String(shell),
      parallelism,
      steps,
    };
  }

  step(path: Path, s: unknown): StepPlan | undefined {
    if (typeof s === 'string') {
      if (s === 'checkout') return { type: 'checkout', name: 'Checkout code', when: 'on_success' };
      return this.otherStep(path, s, undefined);
    }
    if (!isObj(s) || Object.keys(s).length !== 1) {
      this.err(
        path,
        'RH_CONFIG_STEP',
        'a step is a step name (e.g. `checkout`) or a map with exactly one key (e.g. `run:`)',
      );
      return undefined;
    }
    const [type, body] = Object.entries(s)[0];
    if (type === SKIP) return undefined;
    const p = [...path, type];
    if (type === 'checkout') {
      const b = isObj(body) ? body : {};
      return {
        type: 'checkout',
        name: b.name === undefined ? 'Checkout code' : String(b.name),
        path: b.path === undefined ? undefined : String(b.path),
        when: 'on_success',
      };
    }
    if (type === 'run' || type === 'deploy') {
      if (typeof body === 'string') {
        return {
          type: 'run',
          name: body,
          command: body,
          environment: {},
          background: false,
          no_output_timeout: DEFAULT_NO_OUTPUT_TIMEOUT,
          when: 'on_success',
        };
      }
      if (!isObj(body) || typeof body.command !== 'string') {
        this.err(p, 'RH_CONFIG_RUN', '`run` needs a `command` string');
        return undefined;
      }
      const known = [
        'command',
        'name',
        'environment',
        'working_directory',
        'shell',
        'background',
        'no_output_timeout',
        'when',
      ];
      for (const k of Object.keys(body))
        if (!known.includes(k)) this.err([...p, k], 'RH_CONFIG_UNKNOWN_KEY', `unknown key \`${k}\` in run step`, true);
      let when: StepWhen = 'on_success';
      if (body.when !== undefined) {
        if (['on_success', 'on_fail', 'always'].includes(String(body.when))) when = String(body.when) as StepWhen;
        else this.err([...p, 'when'], 'RH_CONFIG_RUN', '`when` must be on_success, on_fail or always');
      }
      let timeout = DEFAULT_NO_OUTPUT_TIMEOUT;
      if (body.no_output_timeout !== undefined) {
        const t = parseDuration(body.no_output_timeout);
        if (t === undefined)
          this.err(
            [...p, 'no_output_timeout'],
            'RH_CONFIG_RUN',
            '`no_output_timeout` must be a duration such as 10m, 1h or 30s',
          );
        else timeout = t;
      }
      return {
        type: 'run',
        name: body.name === undefined ? body.command : String(body.name),
        command: body.command,
        environment: this.env([...p, 'environment'], body.environment),
        working_directory: body.working_directory === undefined ? undefined : String(body.working_directory),
        shell: body.shell === undefined ? undefined : String(body.shell),
        background: body.background === true,
        no_output_timeout: timeout,
        when,
      };
    }
    return this.otherStep(path, type, body);
  }

  /** Steps the executor runs from their arguments (caches, workspaces, artifacts, …). */
  otherStep(path: Path, type: string, body: unknown): StepPlan | undefined {
    if (!(OTHER_STEP_TYPES as readonly string[]).includes(type)) {
      this.err(path, 'RH_CONFIG_UNKNOWN_STEP', `unknown step \`${type}\` (no built-in step or command of that name)`);
      return undefined;
    }
    const args = isObj(body) ? body : {};
    const name = args.name === undefined ? STEP_TITLES[type as OtherStepType] : String(args.name);
    return { type: type as OtherStepType, name, args, when: 'on_success' };
  }

  /**
   * `requires`: job names, or `{job: status | [statuses]}` (flexible requires: run when the required
   * job ended in one of these statuses).
   */
  requires(path: Path, v: unknown): { requires: string[]; requireStatuses?: Record<string, string[]> } {
    if (v === undefined) return { requires: [] };
    const items = Array.isArray(v) ? v : [v];
    const requires: string[] = [];
    const statuses: Record<string, string[]> = {};
    for (const [i, item] of items.entries()) {
      if (isObj(item)) {
        for (const [name, st] of Object.entries(item)) {
          const list = (Array.isArray(st) ? st : [st]).map(String);
          const bad = list.filter((x) => !REQUIRE_STATUSES.includes(x));
          if (bad.length)
            this.err(
              [...path, i, name],
              'RH_CONFIG_REQUIRES_STATUS',
              `\`requires\` status ${bad.map((b) => `\`${b}\``).join(', ')} is not one of ${REQUIRE_STATUSES.join(', ')}`,
            );
          requires.push(name);
          statuses[name] = list;
        }
      } else requires.push(String(item));
    }
    return Object.keys(statuses).length ? { requires, requireStatuses: statuses } : { requires };
  }

  filter(path: Path, v: unknown): FilterSpec | undefined {
    if (v === undefined) return undefined;
    if (!isObj(v)) {
      this.err(path, 'RH_CONFIG_FILTER', 'a filter is a map with `only` and/or `ignore`');
      return undefined;
    }
    const list = (k: string) => (v[k] === undefined ? undefined : (Array.isArray(v[k]) ? v[k] : [v[k]]).map(String));
    for (const k of Object.keys(v))
      if (k !== 'only' && k !== 'ignore')
        this.err([...path, k], 'RH_CONFIG_FILTER', `unknown filter key \`${k}\``, true);
    const spec = { only: list('only'), ignore: list('ignore') };
    for (const p of [...(spec.only ?? []), ...(spec.ignore ?? [])]) {
      if (isRegexFilter(p)) {
        const m = compilePattern(p.slice(1, -1));
        if (typeof m === 'string') this.err(path, 'RH_CONFIG_FILTER', `invalid regular expression ${p}: ${m}`);
      }
    }
    return spec;
  }

  workflows(v: unknown, jobDefs: Obj): WorkflowPlan[] {
    if (v === undefined) {
      // A config without workflows runs its `build` job, as CircleCI 2.0 does.
      if (jobDefs.build === undefined) {
        this.err(['jobs'], 'RH_CONFIG_NO_WORKFLOWS', 'config has no `workflows` and no job named `build` to run', true);
        return [];
      }
      return [{ name: 'workflow', jobs: [{ name: 'build', job: 'build', type: 'build', requires: [], context: [] }] }];
    }
    if (!isObj(v)) {
      this.err(['workflows'], 'RH_CONFIG_TYPE', '`workflows` must be a map');
      return [];
    }
    const out: WorkflowPlan[] = [];
    for (const [wname, wdef] of Object.entries(v)) {
      if (wname === 'version') continue;
      const path = ['workflows', wname];
      if (!isObj(wdef)) {
        this.err(path, 'RH_CONFIG_TYPE', `workflow \`${wname}\` must be a map with \`jobs\``);
        continue;
      }
      for (const k of Object.keys(wdef)) {
        if (!['jobs', 'triggers', 'when', 'unless', 'max_auto_reruns'].includes(k))
          this.err([...path, k], 'RH_CONFIG_UNKNOWN_KEY', `unknown key \`${k}\` in workflow \`${wname}\``, true);
      }
      // A scheduled pipeline runs only the workflows whose schedule fired.
      const scheduled = this.ctx.scheduledWorkflows;
      if (scheduled && !scheduled.includes(wname)) continue;
      // A workflow with schedule triggers runs on its schedule only, never on a push or API trigger.
      if (wdef.triggers !== undefined && !scheduled) {
        const triggers = Array.isArray(wdef.triggers) ? wdef.triggers : [];
        if (!Array.isArray(wdef.triggers) || triggers.length === 0)
          this.err([...path, 'triggers'], 'RH_CONFIG_TYPE', '`triggers` must be a list of `schedule` entries');
        for (const [i, tr] of triggers.entries()) {
          const sch = isObj(tr) && isObj(tr.schedule) ? tr.schedule : undefined;
          const cron = sch && typeof sch.cron === 'string' ? parseCron(sch.cron) : undefined;
          if (typeof cron === 'string') {
            this.err([...path, 'triggers', i, 'schedule', 'cron'], 'RH_CONFIG_TRIGGER', cron);
            continue;
          }
          if (!sch || typeof sch.cron !== 'string') {
            this.err(
              [...path, 'triggers', i],
              'RH_CONFIG_TRIGGER',
              'a trigger is `schedule: {cron: "<5 cron fields>", filters: {branches: …}}`',
            );
            continue;
          }
          const filters = isObj(sch.filters) ? sch.filters : {};
          this.schedules.push({
            workflow: wname,
            cron: sch.cron.trim(),
            branches: this.filter([...path, 'triggers', i, 'schedule', 'filters', 'branches'], filters.branches),
          });
        }
        continue;
      }
      // Every job of this workflow came from orbs that are missing (and are reported): nothing to say.
      if (Array.isArray(wdef.jobs) && wdef.jobs.length === 0 && this.dropped.size > 0) continue;
      if (!Array.isArray(wdef.jobs) || wdef.jobs.length === 0) {
        this.err(path, 'RH_CONFIG_TYPE', `workflow \`${wname}\` needs a list of \`jobs\``);
        continue;
      }
      const jobs: (WorkflowJobPlan & { branches?: FilterSpec; tags?: FilterSpec; path: Path })[] = [];
      for (const [i, entry] of wdef.jobs.entries()) {
        const jp = [...path, 'jobs', i];
        let key: string;
        let opts: Obj = {};
        if (typeof entry === 'string') key = entry;
        else if (isObj(entry) && Object.keys(entry).length === 1) {
          key = Object.keys(entry)[0];
          opts = isObj(entry[key]) ? (entry[key] as Obj) : {};
        } else {
          this.err(jp, 'RH_CONFIG_TYPE', 'a workflow job is a job name or a map of one job name to its options');
          continue;
        }
        const op = typeof entry === 'string' ? jp : [...jp, key];
        const type = opts.type === 'approval' ? 'approval' : 'build';
        if (opts.type !== undefined && opts.type !== 'approval')
          this.err([...op, 'type'], 'RH_CONFIG_TYPE', 'the only workflow job `type` is `approval`');
        if (type === 'build' && jobDefs[key] === undefined) {
          this.err(
            op,
            'RH_CONFIG_JOB_NOT_FOUND',
            `workflow \`${wname}\` uses job \`${key}\`, which is not defined in \`jobs\``,
            typeof entry !== 'string',
          );
          continue;
        }
        for (const k of Object.keys(opts)) {
          if (!['requires', 'context', 'filters', 'name', 'type', 'matrix', 'pre-steps', 'post-steps'].includes(k)) {
            this.err([...op, k], 'RH_CONFIG_UNKNOWN_KEY', `unexpected argument \`${k}\` for job \`${key}\``, true);
          }
        }
        const list = (x: unknown) => (x === undefined ? [] : (Array.isArray(x) ? x : [x]).map(String));
        const filters = isObj(opts.filters) ? opts.filters : {};
        jobs.push({
          name: opts.name === undefined ? key : String(opts.name),
          job: key,
          type,
          ...this.requires([...op, 'requires'], opts.requires),
          context: list(opts.context),
          branches: this.filter([...op, 'filters', 'branches'], filters.branches),
          tags: this.filter([...op, 'filters', 'tags'], filters.tags),
          path: op,
        });
      }
      const names = new Set<string>();
      for (const j of jobs) {
        if (names.has(j.name))
          this.err(
            j.path,
            'RH_CONFIG_DUPLICATE_JOB',
            `job name \`${j.name}\` appears twice in workflow \`${wname}\`; give one a \`name:\``,
          );
        names.add(j.name);
      }
      for (const j of jobs) {
        for (const r of j.requires) {
          if (!names.has(r) && !this.dropped.has(r))
            this.err(
              [...j.path, 'requires'],
              'RH_CONFIG_REQUIRES_UNKNOWN',
              `job \`${j.name}\` requires \`${r}\`, which is not in workflow \`${wname}\``,
            );
        }
      }
      const cycle = findCycle(jobs);
      if (cycle)
        this.err(
          [...path, 'jobs'],
          'RH_CONFIG_REQUIRES_CYCLE',
          `workflow \`${wname}\` has a requires cycle: ${cycle.join(' -> ')}`,
        );
      // Filters: a tag pipeline runs only jobs with a matching tag filter; a branch pipeline those whose branch filter allows it.
      const runs = (j: (typeof jobs)[number]) =>
        this.ctx.tag !== undefined
          ? !!j.tags && filterAllows(j.tags, this.ctx.tag)
          : filterAllows(j.branches, this.ctx.branch);
      const kept = new Map(jobs.filter(runs).map((j) => [j.name, j]));
      // A job whose requirement does not run does not run either.
      let changed = true;
      while (changed) {
        changed = false;
        for (const [n, j] of kept) {
          if (j.requires.some((r) => !kept.has(r))) {
            kept.delete(n);
            changed = true;
          }
        }
      }
      if (kept.size === 0) continue;
      out.push({
        name: wname,
        jobs: [...kept.values()].map(({ name, job, type, requires, requireStatuses, context }) => ({
          name,
          job,
          type,
          requires,
          ...(requireStatuses ? { requireStatuses } : {}),
          context,
        })),
      });
    }
    return out;
  }
}

function findCycle(jobs: { name: string; requires: string[] }[]): string[] | undefined {
  const req = new Map(jobs.map((j) => [j.name, j.requires]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 2) return undefined;
    if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 1);
    stack.push(n);
    for (const r of req.get(n) ?? []) {
      const c = visit(r);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const j of jobs) {
    const c = visit(j.name);
    if (c) return c;
  }
  return undefined;
}

/** The compiled config as CircleCI's `config process` prints it: version 2, no 2.1 constructs. */
export function toCompiledYaml(plan: Plan): string {
  const jobs: Obj = {};
  for (const [name, j] of Object.entries(plan.jobs)) {
    const ex: Obj =
      j.executor.type === 'docker'
        ? {
            docker: j.executor.images.map((i) =>
              Object.fromEntries(
                Object.entries(i).filter(([, v]) => v !== undefined && !(isObj(v) && Object.keys(v).length === 0)),
              ),
            ),
          }
        : { [j.executor.type]: j.executor.image ? { image: j.executor.image } : true };
    jobs[name] = {
      ...ex,
      resource_class: j.executor.resource_class,
      ...(j.shell ? { shell: j.shell } : {}),
      working_directory: j.working_directory,
      ...(j.parallelism > 1 ? { parallelism: j.parallelism } : {}),
      ...(Object.keys(j.environment).length ? { environment: j.environment } : {}),
      steps: j.steps.map((s) =>
        s.type === 'checkout'
          ? s.path
            ? { checkout: { path: s.path } }
            : 'checkout'
          : s.type !== 'run'
            ? { [s.type]: s.args }
            : {
                run: {
                  name: s.name,
                  command: s.command,
                  ...(Object.keys(s.environment).length ? { environment: s.environment } : {}),
                  ...(s.working_directory ? { working_directory: s.working_directory } : {}),
                  ...(s.shell ? { shell: s.shell } : {}),
                  ...(s.background ? { background: true } : {}),
                  ...(s.no_output_timeout !== DEFAULT_NO_OUTPUT_TIMEOUT
                    ? { no_output_timeout: `${s.no_output_timeout}s` }
                    : {}),
                  ...(s.when !== 'on_success' ? { when: s.when } : {}),
                },
              },
      ),
    };
  }
  const workflows: Obj = { version: 2 };
  for (const w of plan.workflows) {
    workflows[w.name] = {
      jobs: w.jobs.map((j) => {
        const opts: Obj = {};
        if (j.name !== j.job) opts.name = j.name;
        if (j.requires.length)
          opts.requires = j.requires.map((r) => (j.requireStatuses?.[r] ? { [r]: j.requireStatuses[r] } : r));
        if (j.context.length) opts.context = j.context;
        if (j.type === 'approval') opts.type = 'approval';
        return Object.keys(opts).length ? { [j.job]: opts } : j.job;
      }),
    };
  }
  return stringify({ version: 2, jobs, workflows }, { lineWidth: 0 });
}
