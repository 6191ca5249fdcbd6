/**
 * Workload identities (IRSA): one IAM role per runtime role, Velero and the Nomad autoscaler, each
 * assumable only by its own Kubernetes service account and carrying only its own inline policy (the
 * documents in policies/aws-iam.ts).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  type BucketPurpose,
  NOMAD_AUTOSCALER_SERVICE_ACCOUNT,
  RUNTIME_ACCESS,
  RUNTIME_NAMESPACE,
  RUNTIME_ROLES,
  type RuntimeRole,
  VELERO_NAMESPACE,
  VELERO_SERVICE_ACCOUNT,
} from '../../policies/access.js';
import {
  irsaTrust,
  nomadAutoscalerPolicy,
  type PolicyDocument,
  runtimeRolePolicy,
  veleroPolicy,
  vmServicePolicy,
} from '../../policies/aws-iam.js';
import { awsTags } from '../common.js';

export type IdentityName = RuntimeRole | 'velero' | 'nomad-autoscaler';

export interface IdentityArgs {
  readonly environment: string;
  readonly partition: string;
  readonly accountId: string;
  readonly oidcProviderArn: pulumi.Input<string>;
  readonly issuerHostPath: pulumi.Input<string>;
  readonly bucketNames: Record<BucketPurpose, string>;
  readonly bucketArns: Record<BucketPurpose, string>;
  readonly storageKeyArn: pulumi.Input<string>;
  readonly secretsKeyArn: pulumi.Input<string>;
  readonly vmSecurityGroupId: pulumi.Input<string>;
  readonly vpcArn: pulumi.Input<string>;
  readonly nomadAsgArn: string;
}

export class Identity extends pulumi.ComponentResource {
  /** IAM role ARN per identity, for the service accounts' `eks.amazonaws.com/role-arn` annotation. */
  readonly roleArns: Record<IdentityName, string>;

  constructor(name: string, args: IdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:Identity', name, {}, opts);
    const env = args.environment;
    this.roleArns = {} as Record<IdentityName, string>;

    const role = (
      id: IdentityName,
      namespace: string,
      serviceAccount: string,
      policy: pulumi.Output<PolicyDocument | undefined>,
    ) => {
      const roleName = `roundhouse-${env}-${id}`;
      const r = new aws.iam.Role(
        `${name}-${id}`,
        {
          name: roleName,
          assumeRolePolicy: pulumi
            .all([args.oidcProviderArn, args.issuerHostPath])
            .apply(([arn, issuer]) => JSON.stringify(irsaTrust(arn, issuer, namespace, serviceAccount))),
          maxSessionDuration: 3600,
          tags: awsTags(env, `${id}-role`),
        },
        { parent: this },
      );
      new aws.iam.RolePolicy(
        `${name}-${id}`,
        { role: r.name, name: `${id}-least-privilege`, policy: policy.apply((p) => JSON.stringify(p)) },
        { parent: this },
      );
      this.roleArns[id] = `arn:${args.partition}:iam::${args.accountId}:role/${roleName}`;
    };

    for (const id of RUNTIME_ROLES) {
      const policy =
        id === 'vm-service'
          ? pulumi
              .all([args.vmSecurityGroupId, args.vpcArn])
              .apply(([securityGroupId, vpcArn]) =>
                vmServicePolicy({ partition: args.partition, securityGroupId, vpcArn }),
              )
          : pulumi.all([args.storageKeyArn, args.secretsKeyArn]).apply(([storageKeyArn, secretsKeyArn]) =>
              runtimeRolePolicy(id, {
                partition: args.partition,
                buckets: args.bucketNames,
                storageKeyArn,
                secretsKeyArn,
              }),
            );
      const access = RUNTIME_ACCESS[id];
      if (id !== 'vm-service' && Object.keys(access.buckets).length === 0 && !access.secretsKey)
        throw new Error(`${id} has no permissions in RUNTIME_ACCESS; an IAM policy cannot be empty`);
      role(id, RUNTIME_NAMESPACE, id, policy);
    }
    role(
      'velero',
      VELERO_NAMESPACE,
      VELERO_SERVICE_ACCOUNT,
      pulumi.output(args.storageKeyArn).apply((k) => veleroPolicy(args.bucketArns.backups, k)),
    );
    role(
      'nomad-autoscaler',
      RUNTIME_NAMESPACE,
      NOMAD_AUTOSCALER_SERVICE_ACCOUNT,
      pulumi.output(nomadAutoscalerPolicy(args.nomadAsgArn)),
    );

    this.registerOutputs({ roleArns: this.roleArns });
  }
}
