/**
 * The four S3 buckets: outputs (step output, artifacts, test results), caches (caches, workspaces),
 * audit (audit log) and backups (Velero). All private (public access blocked, ACLs disabled), SSE-KMS
 * with the storage key, TLS-only. Audit logs and backups must survive mistakes, so they are versioned;
 * outputs and caches follow the storage object expiry setting (0 = keep forever).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { BUCKET_PURPOSES, type BucketPurpose } from '../../policies/access.js';
import { bucketArn, denyInsecureTransport } from '../../policies/aws-iam.js';
import { ABORT_MULTIPART_DAYS, awsTags, NONCURRENT_VERSION_DAYS } from '../common.js';

const VERSIONED: ReadonlySet<BucketPurpose> = new Set(['audit', 'backups']);
const EXPIRING: ReadonlySet<BucketPurpose> = new Set(['outputs', 'caches']);

export interface ObjectStorageArgs {
  readonly environment: string;
  readonly partition: string;
  readonly names: Record<BucketPurpose, string>;
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly objectExpiryDays: number;
}

export class ObjectStorage extends pulumi.ComponentResource {
  readonly names: Record<BucketPurpose, string>;
  readonly arns: Record<BucketPurpose, string>;

  constructor(name: string, args: ObjectStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:ObjectStorage', name, {}, opts);
    const parent = { parent: this };
    this.names = args.names;
    this.arns = {} as Record<BucketPurpose, string>;

    for (const purpose of BUCKET_PURPOSES) {
      const bucketName = args.names[purpose];
      const arn = bucketArn(args.partition, bucketName);
      this.arns[purpose] = arn;
      const n = `${name}-${purpose}`;
      const bucket = new aws.s3.Bucket(
        n,
        { bucket: bucketName, forceDestroy: false, tags: awsTags(args.environment, `${purpose}-bucket`) },
        parent,
      );
      const on = { ...parent, dependsOn: [bucket] };
      const pab = new aws.s3.BucketPublicAccessBlock(
        n,
        {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        on,
      );
      new aws.s3.BucketOwnershipControls(
        n,
        { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } },
        on,
      );
      new aws.s3.BucketServerSideEncryptionConfiguration(
        n,
        {
          bucket: bucket.id,
          rules: [
            {
              applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: args.kmsKeyArn },
              // Bucket keys cut KMS requests (and cost) by orders of magnitude for many small objects.
              bucketKeyEnabled: true,
            },
          ],
        },
        on,
      );
      // S3 rejects concurrent configuration changes on one bucket: the policy waits for the access block.
      new aws.s3.BucketPolicy(
        n,
        { bucket: bucket.id, policy: JSON.stringify(denyInsecureTransport(arn)) },
        { ...parent, dependsOn: [pab] },
      );

      const versioned = VERSIONED.has(purpose);
      if (versioned) {
        new aws.s3.BucketVersioning(n, { bucket: bucket.id, versioningConfiguration: { status: 'Enabled' } }, on);
      }
      const rules: aws.types.input.s3.BucketLifecycleConfigurationRule[] = [
        {
          id: 'abort-incomplete-uploads',
          status: 'Enabled',
          filter: {},
          abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_DAYS },
        },
      ];
      if (EXPIRING.has(purpose) && args.objectExpiryDays > 0) {
        rules.push({
          id: 'storage-object-expiry',
          status: 'Enabled',
          filter: {},
          expiration: { days: args.objectExpiryDays },
        });
      }
      if (versioned) {
        rules.push({
          id: 'noncurrent-versions',
          status: 'Enabled',
          filter: {},
          noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS },
        });
      }
      new aws.s3.BucketLifecycleConfiguration(n, { bucket: bucket.id, rules }, on);
    }
    this.registerOutputs({ names: this.names });
  }
}
