/**
 * The values a stack hands to the rendered manifests through Flux (ConfigMap `roundhouse-stack-outputs`
 * and Secret `roundhouse-stack-secrets`). The names are the contract with charts-ts: a chart writes
 * `${ROUNDHOUSE_OBJECTS_BUCKET}` and Flux substitutes it at apply time.
 */
import type * as pulumi from '@pulumi/pulumi';
import { RUNTIME_ROLES, type RuntimeRole } from '../policies/access.js';
import { VM_SERVICE_MANAGED_BY } from '../policies/tags.js';
import type { Settings } from './config.js';
import { NODE_CLASS } from './nomad/startup.js';
import type { NomadTls } from './nomad/tls.js';

export type IdentityKey = RuntimeRole | 'velero' | 'nomad-autoscaler';

/** Substitution variable of an identity: ROUNDHOUSE_IDENTITY_API, ..._VM_SERVICE, ..._NOMAD_AUTOSCALER. */
export const identityVar = (id: IdentityKey) => `ROUNDHOUSE_IDENTITY_${id.toUpperCase().replace(/-/g, '_')}`;

export interface CloudOutputs {
  readonly buckets: { outputs: string; caches: string; audit: string; backups: string };
  readonly objectsEndpoint: string;
  readonly secretsProvider: 'aws-kms' | 'gcp-kms';
  readonly secretsKey: pulumi.Input<string>;
  /** Service-account annotation that binds a workload identity. */
  readonly identityAnnotation: string;
  readonly identities: Record<IdentityKey, pulumi.Input<string>>;
  readonly clusterName: string;
  readonly nomadClientGroup: string;
  /** Where the VM service launches VMs: security group / network tag, subnets / subnetwork. */
  readonly vmPlacement: Record<string, pulumi.Input<string>>;
  readonly databaseHost?: pulumi.Input<string>;
}

/** ConfigMap data: everything non-secret a chart may need. */
export function stackOutputs(s: Settings, c: CloudOutputs): Record<string, pulumi.Input<string>> {
  const data: Record<string, pulumi.Input<string>> = {
    ROUNDHOUSE_CLOUD: s.cloud,
    ROUNDHOUSE_ENVIRONMENT: s.environment,
    ROUNDHOUSE_DOMAIN: s.domain,
    CLOUD_REGION: s.region,
    CLUSTER_NAME: c.clusterName,
    // Settings the runtime reads (runtime/src/objects): the outputs bucket is its object store.
    ROUNDHOUSE_OBJECTS_BUCKET: c.buckets.outputs,
    ROUNDHOUSE_OBJECTS_REGION: s.region,
    ROUNDHOUSE_OBJECTS_ENDPOINT: c.objectsEndpoint,
    ROUNDHOUSE_OBJECTS_PREFIX: '',
    ROUNDHOUSE_OBJECT_EXPIRY_DAYS: String(s.storage.objectExpiryDays),
    ROUNDHOUSE_CACHES_BUCKET: c.buckets.caches,
    ROUNDHOUSE_AUDIT_BUCKET: c.buckets.audit,
    ROUNDHOUSE_BACKUPS_BUCKET: c.buckets.backups,
    ROUNDHOUSE_SECRETS_PROVIDER: c.secretsProvider,
    ROUNDHOUSE_SECRETS_KMS_KEY: c.secretsKey,
    ROUNDHOUSE_IDENTITY_ANNOTATION: c.identityAnnotation,
    NOMAD_SERVER_ADDRESS: s.nomad.serverAddress,
    NOMAD_CLIENT_GROUP: c.nomadClientGroup,
    NOMAD_CLIENT_NODE_CLASS: NODE_CLASS,
    NOMAD_CLIENT_MIN: String(s.nomad.min),
    NOMAD_CLIENT_MAX: String(s.nomad.max),
    VM_SERVICE_MANAGED_BY,
    DATABASE_MODE: s.database.mode,
  };
  for (const id of [...RUNTIME_ROLES, 'velero', 'nomad-autoscaler'] as const) data[identityVar(id)] = c.identities[id];
  for (const [k, v] of Object.entries(c.vmPlacement)) data[k] = v;
  if (c.databaseHost !== undefined) data.DATABASE_HOST = c.databaseHost;
  return data;
}

/** Secret values for Flux: base64 so a chart can put them in a Secret's `data` without YAML quoting. */
export function nomadSecrets(tls: NomadTls, databaseUrl?: pulumi.Output<string>): Record<string, pulumi.Input<string>> {
  const b64 = (v: pulumi.Output<string>) => v.apply((x) => Buffer.from(x).toString('base64'));
  return {
    NOMAD_TLS_CA_B64: b64(tls.caPem),
    NOMAD_TLS_SERVER_CERT_B64: b64(tls.serverCertPem),
    NOMAD_TLS_SERVER_KEY_B64: b64(tls.serverKeyPem),
    NOMAD_TLS_CLIENT_CERT_B64: b64(tls.clientCertPem),
    NOMAD_TLS_CLIENT_KEY_B64: b64(tls.clientKeyPem),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
}
