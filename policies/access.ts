/**
 * What each runtime role may touch, independent of the cloud. The AWS and GCP identity documents are both
 * generated from this table, so the two clouds cannot drift apart.
 */

/** The four buckets of an environment. */
export const BUCKET_PURPOSES = ['outputs', 'caches', 'audit', 'backups'] as const;
export type BucketPurpose = (typeof BUCKET_PURPOSES)[number];

/**
 * - `read`: get and list objects;
 * - `append`: create objects only (no read, no overwrite on GCS, no delete) — audit logs;
 * - `readWrite`: read, create, overwrite and delete objects (the expiry sweep deletes).
 */
export type ObjectAccess = 'read' | 'append' | 'readWrite';

/** Use of the secrets key: `decrypt` unwraps data keys, `encryptDecrypt` also wraps new ones. */
export type KeyAccess = 'decrypt' | 'encryptDecrypt';

/** Runtime roles that run as pods and get a workload identity (the executor runs on Nomad clients). */
export const RUNTIME_ROLES = ['api', 'conductor', 'dispatcher', 'output', 'vm-service'] as const;
export type RuntimeRole = (typeof RUNTIME_ROLES)[number];

export interface RoleAccess {
  readonly buckets: Readonly<Partial<Record<BucketPurpose, ObjectAccess>>>;
  /** The envelope key for secrets at rest (project env vars, contexts). */
  readonly secretsKey?: KeyAccess;
  /** Needs to sign URLs for downloads (GCS signBlob on itself; S3 presigning needs nothing extra). */
  readonly signsUrls: boolean;
}

/** Least privilege per role; the VM service's cloud permissions come from its own documents. */
export const RUNTIME_ACCESS: Readonly<Record<RuntimeRole, RoleAccess>> = {
  // Serves artifacts and test results, stores project env vars and contexts, records audit events.
  api: { buckets: { outputs: 'read', audit: 'append' }, secretsKey: 'encryptDecrypt', signsUrls: true },
  // Records pipeline transitions in the audit log; reads secrets to hand them to jobs.
  conductor: { buckets: { audit: 'append' }, secretsKey: 'decrypt', signsUrls: false },
  // Places jobs on Nomad; decrypts the environment it injects.
  dispatcher: { buckets: {}, secretsKey: 'decrypt', signsUrls: false },
  // Stores step output, artifacts, test results, caches and workspaces; runs the expiry sweep.
  output: { buckets: { outputs: 'readWrite', caches: 'readWrite' }, signsUrls: true },
  // Launches VMs; no object storage.
  'vm-service': { buckets: {}, signsUrls: false },
};

/** Kubernetes namespace and service account names each identity is bound to. */
export const RUNTIME_NAMESPACE = 'roundhouse';
export const VELERO_NAMESPACE = 'velero';
export const VELERO_SERVICE_ACCOUNT = 'velero';
export const NOMAD_AUTOSCALER_SERVICE_ACCOUNT = 'nomad-autoscaler';
