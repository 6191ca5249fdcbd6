import type { JobRow, PipelineRow, ProjectRow, WorkflowRow } from '../store/store.js';

/** API v2 response shapes (2021 OpenAPI spec), from store rows. */

export function pipelineJson(p: PipelineRow, project: ProjectRow) {
  const vcs: Record<string, unknown> = {
    provider_name: project.vcs_type === 'bb' ? 'Bitbucket' : 'GitHub',
    origin_repository_url: project.repo_url,
    target_repository_url: project.repo_url,
    revision: p.revision ?? '',
    commit: { subject: p.commit_subject, body: p.commit_body },
  };
  if (p.branch !== null) vcs.branch = p.branch;
  if (p.tag !== null) vcs.tag = p.tag;
  return {
    id: p.id,
    errors: JSON.parse(p.errors),
    project_slug: project.slug,
    updated_at: p.updated_at,
    number: Number(p.number),
    trigger_parameters: JSON.parse(p.parameters),
    state: p.state,
    created_at: p.created_at,
    trigger: { type: p.trigger_type, received_at: p.created_at, actor: { login: p.actor_login, avatar_url: null } },
    vcs,
  };
}

export function workflowJson(w: WorkflowRow, pipeline: PipelineRow, project: ProjectRow) {
  return {
    pipeline_id: w.pipeline_id,
    ...(w.canceled_by ? { canceled_by: w.canceled_by } : {}),
    ...(w.errored_by ? { errored_by: w.errored_by } : {}),
    id: w.id,
    name: w.name,
    ...(w.tag ? { tag: w.tag } : {}),
    project_slug: project.slug,
    status: w.status,
    started_by: w.started_by,
    pipeline_number: Number(pipeline.number),
    created_at: w.created_at,
    stopped_at: w.stopped_at,
  };
}

/** A job in `GET /workflow/{id}/job`. Carried-over jobs of a partial rerun show their original number. */
export function workflowJobJson(j: JobRow, project: ProjectRow, originalNumber?: number | null) {
  const number = j.number ?? originalNumber ?? null;
  return {
    ...(j.canceled_by ? { canceled_by: j.canceled_by } : {}),
    dependencies: JSON.parse(j.requires),
    ...(number !== null ? { job_number: Number(number) } : {}),
    id: j.id,
    started_at: j.started_at,
    name: j.name,
    project_slug: project.slug,
    status: j.status,
    type: j.type,
    stopped_at: j.stopped_at,
    ...(j.type === 'approval' ? { approval_request_id: j.id } : {}),
    ...(j.type === 'approval' && j.claimed_by?.startsWith('approved:')
      ? { approved_by: j.claimed_by.slice('approved:'.length) }
      : {}),
  };
}
