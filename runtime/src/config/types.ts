/** The plan the compiler hands the conductor: plain data, no 2.1 constructs left. */

export interface DockerImage {
  readonly image: string;
  readonly name?: string;
  readonly entrypoint?: string[];
  readonly command?: string[];
  readonly user?: string;
  readonly environment?: Record<string, string>;
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

export type StepPlan = RunStep | CheckoutStep;

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
  readonly context: string[];
}

export interface WorkflowPlan {
  readonly name: string;
  readonly jobs: WorkflowJobPlan[];
}

export interface Plan {
  readonly version: string;
  readonly jobs: Record<string, JobPlan>;
  readonly workflows: WorkflowPlan[];
}

export interface ConfigError {
  /** Stable code, e.g. RH_CONFIG_YAML. */
  readonly code: string;
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** What the pipeline knows when the config is compiled. */
export interface PipelineContext {
  readonly branch?: string;
  readonly tag?: string;
}

export type CompileResult =
  | { readonly ok: true; readonly plan: Plan; readonly compiled: string }
  | { readonly ok: false; readonly errors: ConfigError[] };

export const formatConfigError = (e: ConfigError) => `${e.file}:${e.line}:${e.column}: ${e.message} [${e.code}]`;
