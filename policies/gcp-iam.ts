/**
 * GCP IAM as typed values: predefined roles per access mode, custom role permission lists, and the
 * conditions that scope a grant to one resource. The stacks bind these; nothing here calls the cloud.
 */
import type { KeyAccess, ObjectAccess } from './access.js';

/** Bucket-level role for each object access mode. */
export const GCS_ROLE: Readonly<Record<ObjectAccess, string>> = {
  read: 'roles/storage.objectViewer',
  // objectCreator cannot read, overwrite or delete: right for append-only audit logs.
  append: 'roles/storage.objectCreator',
  // objectUser reads, writes and deletes objects but cannot change the bucket's IAM.
  readWrite: 'roles/storage.objectUser',
};

export const KMS_ROLE: Readonly<Record<KeyAccess, string>> = {
  decrypt: 'roles/cloudkms.cryptoKeyDecrypter',
  encryptDecrypt: 'roles/cloudkms.cryptoKeyEncrypterDecrypter',
};

/** The role a Google service agent needs to use a CMEK key. */
export const CMEK_AGENT_ROLE = 'roles/cloudkms.cryptoKeyEncrypterDecrypter';

/** Lets a Google service account sign blobs as itself (signed URLs, GCS from Workload Identity). */
export const SIGN_BLOB_ROLE = 'roles/iam.serviceAccountTokenCreator';

export const WORKLOAD_IDENTITY_USER_ROLE = 'roles/iam.workloadIdentityUser';

/** Workload Identity member for a Kubernetes service account. */
export const workloadIdentityMember = (project: string, namespace: string, serviceAccount: string) =>
  `serviceAccount:${project}.svc.id.goog[${namespace}/${serviceAccount}]`;

/** Google service agents that encrypt with the environment's CMEK keys. */
export const serviceAgent = {
  storage: (projectNumber: string) => `service-${projectNumber}@gs-project-accounts.iam.gserviceaccount.com`,
  cloudSql: (projectNumber: string) => `service-${projectNumber}@gcp-sa-cloud-sql.iam.gserviceaccount.com`,
  gke: (projectNumber: string) => `service-${projectNumber}@container-engine-robot.iam.gserviceaccount.com`,
  compute: (projectNumber: string) => `service-${projectNumber}@compute-system.iam.gserviceaccount.com`,
};

/**
 * VM service, as the operations guide sets it up on GCP: instance admin in the project, and
 * serviceAccountUser — here only on the VMs' own service account, not project-wide.
 */
export const VM_SERVICE_PROJECT_ROLES = ['roles/compute.instanceAdmin.v1'] as const;
export const VM_SERVICE_ACT_AS_ROLE = 'roles/iam.serviceAccountUser';

/** Velero's custom role, with the operations guide's GCP permission list. */
export const VELERO_ROLE_PERMISSIONS = [
  'compute.disks.get',
  'compute.disks.create',
  'compute.disks.createSnapshot',
  'compute.snapshots.get',
  'compute.snapshots.create',
  'compute.snapshots.useReadOnly',
  'compute.snapshots.delete',
  'compute.zones.get',
] as const;
/** Velero on the backups bucket (the guide grants objectAdmin there). */
export const VELERO_BUCKET_ROLE = 'roles/storage.objectAdmin';

/**
 * Nomad autoscaler (gce-mig target): resize and delete instances of one managed instance group. Scoped
 * by NOMAD_AUTOSCALER condition below instead of the project-wide compute.admin CircleCI's module grants.
 */
export const NOMAD_AUTOSCALER_PERMISSIONS = [
  'compute.instanceGroupManagers.get',
  'compute.instanceGroupManagers.update',
  'compute.instanceGroups.get',
  'compute.instanceGroups.list',
  'compute.instances.get',
  'compute.instances.list',
  'compute.instances.delete',
  'compute.regionOperations.get',
  'compute.zoneOperations.get',
] as const;

/** IAM condition allowing the autoscaler's role on one regional MIG only (other resource types pass). */
export function onlyInstanceGroupManager(project: string, region: string, name: string) {
  return {
    title: 'only-the-nomad-client-group',
    description: 'Instance group managers other than the Nomad client group are out of reach',
    expression:
      `resource.type != "compute.googleapis.com/InstanceGroupManager" || ` +
      `resource.name == "projects/${project}/regions/${region}/instanceGroupManagers/${name}"`,
  };
}

/** Node pool service account of the GKE cluster. */
export const GKE_NODE_ROLES = [
  'roles/logging.logWriter',
  'roles/monitoring.metricWriter',
  'roles/monitoring.viewer',
  'roles/stackdriver.resourceMetadata.writer',
  'roles/artifactregistry.reader',
] as const;

/** Nomad client instances (the executor): pull job images, write logs and metrics. */
export const NOMAD_CLIENT_ROLES = [
  'roles/artifactregistry.reader',
  'roles/logging.logWriter',
  'roles/monitoring.metricWriter',
] as const;

/** GCS lifecycle needs a number of days; Cloud KMS a rotation period in seconds. */
export const KEY_ROTATION_SECONDS = 90 * 24 * 3600;
