/**
 * Cloud KMS: a key ring per environment with a `storage` key (buckets, disks, Cloud SQL) and a `secrets`
 * key (runtime secrets at rest, GKE application-layer secrets encryption), both rotating every 90 days.
 * Google's service agents get encrypt/decrypt on the key their service uses — nothing else does.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { CMEK_AGENT_ROLE, KEY_ROTATION_SECONDS, serviceAgent } from '../../policies/gcp-iam.js';
import { gcpLabels } from '../common.js';

export interface GcpKeysArgs {
  readonly environment: string;
  readonly project: string;
  readonly projectNumber: string;
  readonly region: string;
}

export class GcpKeys extends pulumi.ComponentResource {
  /** Key resource names (`projects/…/cryptoKeys/…`). */
  readonly storageKeyId: string;
  readonly secretsKeyId: string;
  /** Keys and agent grants that CMEK users must wait for (a resource fails if its agent cannot use the key yet). */
  readonly agentGrants: pulumi.Resource[];

  constructor(name: string, args: GcpKeysArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:Keys', name, {}, opts);
    const parent = { parent: this };
    const ringName = `roundhouse-${args.environment}`;
    // A key ring cannot be deleted in Cloud KMS; a destroyed stack leaves it (and its disabled keys).
    const ring = new gcp.kms.KeyRing(name, { name: ringName, location: args.region }, parent);
    const ringId = `projects/${args.project}/locations/${args.region}/keyRings/${ringName}`;

    const keys: pulumi.Resource[] = [];
    const key = (purpose: 'storage' | 'secrets') => {
      const k = new gcp.kms.CryptoKey(
        `${name}-${purpose}`,
        {
          name: purpose,
          keyRing: ring.id,
          purpose: 'ENCRYPT_DECRYPT',
          rotationPeriod: `${KEY_ROTATION_SECONDS}s`,
          labels: gcpLabels(args.environment),
        },
        parent,
      );
      keys.push(k);
      return `${ringId}/cryptoKeys/${purpose}`;
    };
    this.storageKeyId = key('storage');
    this.secretsKeyId = key('secrets');

    // Cloud SQL's service agent exists only once asked for.
    const sqlAgent = new gcp.projects.ServiceIdentity(
      `${name}-sql-agent`,
      { project: args.project, service: 'sqladmin.googleapis.com' },
      parent,
    );
    const grant = (id: string, keyId: string, member: string, dependsOn: pulumi.Resource[] = []) =>
      new gcp.kms.CryptoKeyIAMMember(
        `${name}-${id}`,
        { cryptoKeyId: keyId, role: CMEK_AGENT_ROLE, member: `serviceAccount:${member}` },
        { ...parent, dependsOn: [...keys, ...dependsOn] },
      );
    this.agentGrants = [
      ...keys,
      grant('storage-agent', this.storageKeyId, serviceAgent.storage(args.projectNumber)),
      grant('compute-agent', this.storageKeyId, serviceAgent.compute(args.projectNumber)),
      grant('sql-agent', this.storageKeyId, serviceAgent.cloudSql(args.projectNumber), [sqlAgent]),
      grant('gke-agent', this.secretsKeyId, serviceAgent.gke(args.projectNumber)),
    ];
    this.registerOutputs({ storageKeyId: this.storageKeyId, secretsKeyId: this.secretsKeyId });
  }
}
