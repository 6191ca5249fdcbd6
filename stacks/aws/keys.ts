/**
 * Customer-managed KMS keys, rotated yearly by AWS: `storage` encrypts the buckets, volumes and the
 * database; `secrets` wraps the runtime's data keys (secrets at rest) and Kubernetes secrets in EKS.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { kmsKeyPolicy } from '../../policies/aws-iam.js';
import { awsTags } from '../common.js';

export interface KeysArgs {
  readonly environment: string;
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

export interface Key {
  readonly id: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly alias: string;
}

export class Keys extends pulumi.ComponentResource {
  readonly storage: Key;
  readonly secrets: Key;

  constructor(name: string, args: KeysArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:Keys', name, {}, opts);
    const make = (purpose: 'storage' | 'secrets', description: string): Key => {
      const key = new aws.kms.Key(
        `${name}-${purpose}`,
        {
          description: `Roundhouse ${args.environment}: ${description}`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          policy: JSON.stringify(kmsKeyPolicy(args.partition, args.accountId)),
          tags: awsTags(args.environment, `${purpose}-key`),
        },
        { parent: this },
      );
      const alias = `alias/roundhouse-${args.environment}-${purpose}`;
      new aws.kms.Alias(`${name}-${purpose}`, { name: alias, targetKeyId: key.id }, { parent: this });
      // The ARN is a function of the key id; building it keeps plans readable before the key exists.
      const arn = pulumi.interpolate`arn:${args.partition}:kms:${args.region}:${args.accountId}:key/${key.id}`;
      return { id: key.id, arn, alias };
    };
    this.storage = make('storage', 'buckets, volumes and database');
    this.secrets = make('secrets', 'secrets at rest and Kubernetes secrets');
    this.registerOutputs({ storageKeyArn: this.storage.arn, secretsKeyArn: this.secrets.arn });
  }
}
