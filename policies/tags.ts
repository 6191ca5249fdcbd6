/**
 * Ownership tags. Two owners must never be confused: what the Pulumi stacks create, and the VMs the
 * VM service launches at run time. The VM service's EC2 policy lets it stop, terminate and delete only
 * resources carrying its own `ManagedBy` value, so the stacks tag everything they own with a different one.
 */

/** The `ManagedBy` tag key, on AWS resources (tags) and GCP resources (label `managed-by`). */
export const MANAGED_BY_TAG = 'ManagedBy';
export const MANAGED_BY_LABEL = 'managed-by';

/** `ManagedBy` value on everything a stack creates. */
export const STACK_MANAGED_BY = 'roundhouse-stacks';

/**
 * `ManagedBy` value the VM service puts on every instance and volume it creates. CircleCI server's value,
 * kept so an installation moving from CircleCI server keeps its IAM policy and tag-based reports.
 */
export const VM_SERVICE_MANAGED_BY = 'circleci-vm-service';

/** Tag (AWS) / label (GCP) naming the environment (the stack). */
export const ENVIRONMENT_TAG = 'roundhouse:environment';
export const ENVIRONMENT_LABEL = 'roundhouse-environment';
