/** The plan the compiler hands the conductor: plain data, no 2.1 constructs left. */

export interface DockerImage {
  readonly image: string;
  readonly name?: string;
  readonly entrypoint?: string[];
  readonly command?: string[];
  readonly user?: string;
  readonly environment?: Record<string, string>;
  /** Private registry login; values may be `${VAR}` references to project or context variables. */
  readonly auth?: { readonly username?: string; readonly password?: string };
  /** Amazon ECR login (keys or an OIDC role); values may be `${VAR}` references. */
  readonly aws_auth?: {
    readonly aws_access_key_id?: string;
    readonly aws_secret_access_key?: string;
    readonly oidc_role_arn?: string;
    readonly region?: string;
  };
}

export interface ExecutorPlan {
  readonly type: 'docker' | 'machine' | 'macos';
  readonly images: DockerImage[];
  /** machine image, when given */
  readonly image?: string;
  readonly resource_class: string;
}

export type StepWhen = 'on_success' | 'on_fail' | 'always';

export interface RunStep {
  readonly type: 'run';
  readonly name: string;
  readonly command: string;
  readonly environment: Record<string, string>;
  readonly working_directory?: string;
  readonly shell?: string;
  readonly background: boolean;
  /** seconds */
  readonly no_output_timeout: number;
  readonly when: StepWhen;
}

export interface CheckoutStep {
  readonly type: 'checkout';
  readonly name: string;
  readonly path?: string;
  readonly when: StepWhen;
}

/** Built-in steps the executor runs from their arguments. */
export const OTHER_STEP_TYPES = [
  'save_cache',
  'restore_cache',
  'store_artifacts',
  'store_test_results',
  'persist_to_workspace',
  'attach_workspace',
  'add_ssh_keys',
  'setup_remote_docker',
] as const;
export type OtherStepType = (typeof OTHER_STEP_TYPES)[number];

/** A built-in step the executor runs from its arguments (`{{ }}` cache-key templates stay as written). */
export interface OtherStep {
  readonly type: OtherStepType;
  readonly name: string;
  readonly args: Record<string, unknown>;
  readonly when: StepWhen;
}

export type StepPlan = RunStep | CheckoutStep | OtherStep;

export interface JobPlan {
  readonly executor: ExecutorPlan;
  readonly environment: Record<string, string>;
  readonly working_directory: string;
  readonly shell?: string;
  readonly parallelism: number;
  readonly steps: StepPlan[];
}

export interface WorkflowJobPlan {
  /** The name the job has in this workflow (its `name:` override, else the job key). */
  readonly name: string;
  /** Key of the job definition in `jobs`. */
  readonly job: string;
  readonly type: 'build' | 'approval';
  readonly requires: string[];
  /** Statuses a requirement may end in for this job to run (default: success), by required job name. */
  readonly requireStatuses?: Record<string, string[]>;
  readonly context: string[];
}

export interface WorkflowPlan {
  readonly name: string;
  readonly jobs: WorkflowJobPlan[];
}

/** A workflow's `schedule` trigger: it runs on this cron schedule only, not on pushes. */
export interface ScheduleTrigger {
  readonly workflow: string;
  readonly cron: string;
  readonly branches?: { only?: string[]; ignore?: string[] };
}

export interface Plan {
  readonly version: string;
  readonly jobs: Record<string, JobPlan>;
  readonly workflows: WorkflowPlan[];
  readonly schedules?: ScheduleTrigger[];
  /** A setup configuration: its workflows continue the pipeline through `POST /api/v2/pipeline/continue`. */
  readonly setup?: boolean;
}

export interface ConfigError {
  /** Stable code, e.g. RH_CONFIG_YAML. */
  readonly code: string;
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Where registry orbs come from: the server's registry, or an offline bundle. */
export interface OrbSource {
  /** The packed orb YAML for `ns/name@version` (version: exact, x.y, x or volatile), or undefined. */
  resolve(ref: string): Promise<{ ref: string; yaml: string } | undefined>;
}

/** `<< pipeline.* >>` values. */
export interface PipelineValues {
  readonly id?: string;
  readonly number?: number;
  readonly branch?: string;
  readonly tag?: string;
  readonly revision?: string;
  readonly gitUrl?: string;
  readonly projectType?: string;
  readonly triggerSource?: string;
  readonly parameters?: Record<string, unknown>;
}

/** What the pipeline knows when the config is compiled. */
export interface PipelineContext {
  readonly branch?: string;
  readonly tag?: string;
  readonly pipeline?: PipelineValues;
  readonly orbs?: OrbSource;
  /** A pipeline started by a schedule runs only these workflows (those whose schedule fired). */
  readonly scheduledWorkflows?: string[];
}

export type CompileResult =
  | { readonly ok: true; readonly plan: Plan; readonly compiled: string }
  | { readonly ok: false; readonly errors: ConfigError[] };

export const formatConfigError = (e: ConfigError) => `${e.file}:${e.line}:${e.column}: ${e.message} [${e.code}]`;
