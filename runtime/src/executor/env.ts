import type { ClaimedJob } from '../protocol/executor.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** CircleCI's built-in variables for a job. */
export function builtinEnvironment(job: ClaimedJob, nodeIndex = 0): Record<string, string> {
  const env: Record<string, string> = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_SHA1: job.pipeline.revision,
    CIRCLE_BUILD_NUM: String(job.number),
    CIRCLE_BUILD_URL: job.web_url,
    CIRCLE_JOB: job.name,
    CIRCLE_NODE_INDEX: String(nodeIndex),
    CIRCLE_NODE_TOTAL: String(Math.max(1, job.plan.parallelism ?? 1)),
    CIRCLE_PROJECT_USERNAME: job.project.org,
    CIRCLE_PROJECT_REPONAME: job.project.repo,
    CIRCLE_REPOSITORY_URL: job.project.repo_url,
    CIRCLE_USERNAME: job.pipeline.actor,
    CIRCLE_WORKFLOW_ID: job.workflow.id,
    CIRCLE_WORKFLOW_WORKSPACE_ID: job.workflow.id,
    CIRCLE_WORKFLOW_JOB_ID: job.id,
    CIRCLE_PIPELINE_ID: job.pipeline.id,
    // CircleCI leaves `~` unexpanded in this variable; so do we.
    CIRCLE_WORKING_DIRECTORY: job.plan.working_directory,
  };
  if (job.pipeline.branch !== undefined) env.CIRCLE_BRANCH = job.pipeline.branch;
  if (job.pipeline.tag !== undefined) env.CIRCLE_TAG = job.pipeline.tag;
  return env;
}

/**
 * The environment of a step, by CircleCI's precedence (later wins): project and context variables,
 * built-ins, job environment, step environment. Shell-set variables win over all at run time.
 */
export function stepEnvironment(
  job: ClaimedJob,
  base: Record<string, string>,
  stepEnv: Record<string, string>,
): Record<string, string> {
  return {
    PATH: DEFAULT_PATH,
    ...job.environment,
    ...base,
    ...builtinEnvironment(job, Number(base.CIRCLE_NODE_INDEX ?? 0)),
    ...job.plan.environment,
    ...stepEnv,
  };
}
