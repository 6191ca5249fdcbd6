/**
 * The four GCS buckets, the GCP twin of the S3 ones: uniform bucket-level access, public access
 * prevention enforced, CMEK with the storage key; audit and backups versioned; outputs and caches
 * expire after the storage object expiry setting (0 = keep forever).
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { BUCKET_PURPOSES, type BucketPurpose } from '../../policies/access.js';
import { ABORT_MULTIPART_DAYS, gcpLabels, NONCURRENT_VERSION_DAYS } from '../common.js';

const VERSIONED: ReadonlySet<BucketPurpose> = new Set(['audit', 'backups']);
const EXPIRING: ReadonlySet<BucketPurpose> = new Set(['outputs', 'caches']);

export interface GcsStorageArgs {
  readonly environment: string;
  readonly region: string;
  readonly names: Record<BucketPurpose, string>;
  readonly kmsKeyId: string;
  readonly objectExpiryDays: number;
  readonly dependsOn: pulumi.Resource[];
}

export class GcsStorage extends pulumi.ComponentResource {
  readonly names: Record<BucketPurpose, string>;
  readonly buckets: pulumi.Resource[] = [];

  constructor(name: string, args: GcsStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:ObjectStorage', name, {}, opts);
    this.names = args.names;
    for (const purpose of BUCKET_PURPOSES) {
      const versioned = VERSIONED.has(purpose);
      const lifecycleRules: gcp.types.input.storage.BucketLifecycleRule[] = [
        { action: { type: 'AbortIncompleteMultipartUpload' }, condition: { age: ABORT_MULTIPART_DAYS } },
      ];
      if (EXPIRING.has(purpose) && args.objectExpiryDays > 0)
        lifecycleRules.push({ action: { type: 'Delete' }, condition: { age: args.objectExpiryDays } });
      if (versioned)
        lifecycleRules.push({
          action: { type: 'Delete' },
          condition: { daysSinceNoncurrentTime: NONCURRENT_VERSION_DAYS, withState: 'ARCHIVED' },
        });
      const bucket = new gcp.storage.Bucket(
        `${name}-${purpose}`,
        {
          name: args.names[purpose],
          location: args.region.toUpperCase(),
          storageClass: 'STANDARD',
          uniformBucketLevelAccess: true,
          publicAccessPrevention: 'enforced',
          encryption: { defaultKmsKeyName: args.kmsKeyId },
          versioning: { enabled: versioned },
          lifecycleRules,
          forceDestroy: false,
          labels: gcpLabels(args.environment),
        },
        { parent: this, dependsOn: args.dependsOn },
      );
      this.buckets.push(bucket);
    }
    this.registerOutputs({ names: this.names });
  }
}
