/**
 * AWS IAM documents as typed values. The stacks serialise them with JSON.stringify; nothing here is a
 * string copied from a document. Every builder takes plain strings (ARNs, ids) so it stays a pure
 * function the tests can call directly.
 */
import { type BucketPurpose, type KeyAccess, type ObjectAccess, RUNTIME_ACCESS, type RuntimeRole } from './access.js';
import { MANAGED_BY_TAG, VM_SERVICE_MANAGED_BY } from './tags.js';

export type ConditionOperator = 'StringEquals' | 'StringLike' | 'Bool' | 'ArnLike' | 'ArnEquals';
export type Condition = Partial<Record<ConditionOperator, Record<string, string | string[]>>>;

export interface Principal {
  readonly Service?: string | string[];
  readonly Federated?: string;
  readonly AWS?: string | string[];
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: string | string[];
  readonly Principal?: Principal | '*';
  readonly Condition?: Condition;
}

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: Statement[];
}

const doc = (...Statement: Statement[]): PolicyDocument => ({ Version: '2012-10-17', Statement });

/** The ARN partition of a region: aws, aws-cn or aws-us-gov. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export const bucketArn = (partition: string, bucket: string) => `arn:${partition}:s3:::${bucket}`;

/** Trust policy letting an AWS service (eks, ec2, ...) assume a role. */
export function serviceTrust(service: string): PolicyDocument {
  return doc({ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' });
}

/**
 * IRSA trust policy: only the named Kubernetes service account, with the STS audience, may assume the
 * role through the cluster's OIDC provider. `issuerHostPath` is the issuer URL without `https://`.
 */
export function irsaTrust(oidcProviderArn: string, issuerHostPath: string, namespace: string, serviceAccount: string) {
  return doc({
    Effect: 'Allow',
    Principal: { Federated: oidcProviderArn },
    Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: {
      StringEquals: {
        [`${issuerHostPath}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
        [`${issuerHostPath}:aud`]: 'sts.amazonaws.com',
      },
    },
  });
}

const OBJECT_ACTIONS: Record<ObjectAccess, { objects: string[]; bucket: string[] }> = {
  read: { objects: ['s3:GetObject'], bucket: ['s3:ListBucket', 's3:GetBucketLocation'] },
  append: { objects: ['s3:PutObject'], bucket: ['s3:GetBucketLocation'] },
  readWrite: {
    objects: [
      's3:GetObject',
      's3:PutObject',
      's3:DeleteObject',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
    ],
    bucket: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
  },
};

/** Object access to one bucket (and its objects), as RUNTIME_ACCESS grants it. */
export function objectAccessStatements(arn: string, access: ObjectAccess): Statement[] {
  const a = OBJECT_ACTIONS[access];
  return [
    { Effect: 'Allow', Action: a.bucket, Resource: arn },
    { Effect: 'Allow', Action: a.objects, Resource: `${arn}/*` },
  ];
}

/** SSE-KMS on the buckets: reading needs Decrypt, writing needs GenerateDataKey. */
export function storageKeyStatement(keyArn: string, access: ObjectAccess): Statement {
  const Action =
    access === 'read'
      ? ['kms:Decrypt']
      : access === 'append'
        ? ['kms:GenerateDataKey']
        : ['kms:Decrypt', 'kms:GenerateDataKey'];
  return { Effect: 'Allow', Action, Resource: keyArn };
}

/** The envelope key for secrets at rest. */
export function secretsKeyStatement(keyArn: string, access: KeyAccess): Statement {
  const Action = access === 'decrypt' ? ['kms:Decrypt'] : ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];
  return { Effect: 'Allow', Action, Resource: keyArn };
}

/** A runtime role's whole permission policy, from RUNTIME_ACCESS; undefined when it needs none. */
export function runtimeRolePolicy(
  role: RuntimeRole,
  refs: { partition: string; buckets: Record<BucketPurpose, string>; storageKeyArn: string; secretsKeyArn: string },
): PolicyDocument | undefined {
  const access = RUNTIME_ACCESS[role];
  const statements: Statement[] = [];
  const entries = Object.entries(access.buckets) as [BucketPurpose, ObjectAccess][];
  for (const [purpose, mode] of entries) {
    statements.push(...objectAccessStatements(bucketArn(refs.partition, refs.buckets[purpose]), mode));
  }
  // One key statement covering the strongest bucket access the role has.
  if (entries.length > 0) {
    const modes = new Set(entries.map(([, m]) => m));
    const mode: ObjectAccess =
      modes.has('readWrite') || (modes.has('read') && modes.has('append'))
        ? 'readWrite'
        : modes.has('append')
          ? 'append'
          : 'read';
    statements.push(storageKeyStatement(refs.storageKeyArn, mode));
  }
  if (access.secretsKey) statements.push(secretsKeyStatement(refs.secretsKeyArn, access.secretsKey));
  return statements.length ? doc(...statements) : undefined;
}

/** Deny every request to the bucket that does not use TLS. */
export function denyInsecureTransport(arn: string): PolicyDocument {
  return doc({
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [arn, `${arn}/*`],
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  });
}

/**
 * The VM service's EC2 policy, statement for statement as the operations guide gives it: launch only into
 * the VM security group, tag on create, manage only instances and volumes tagged ManagedBy=VM service,
 * and start/stop/terminate only in the environment's VPC.
 *
 * The first statement also allows `subnet/*` (as in the guide), so the last statement's `ec2:Vpc`
 * condition is not what confines launches to the VPC; the security group is: RunInstances must be
 * authorised for every resource it uses, the only security group allowed is the VM one, and EC2 refuses
 * a security group from another VPC than the subnet's.
 */
export function vmServicePolicy(refs: { partition: string; securityGroupId: string; vpcArn: string }): PolicyDocument {
  const ec2 = (resource: string) => `arn:${refs.partition}:ec2:*:*:${resource}`;
  const requestTagged = { StringEquals: { [`aws:RequestTag/${MANAGED_BY_TAG}`]: VM_SERVICE_MANAGED_BY } };
  return doc(
    {
      Action: 'ec2:RunInstances',
      Effect: 'Allow',
      Resource: [
        ec2('image/*'),
        ec2('snapshot/*'),
        ec2('key-pair/*'),
        ec2('launch-template/*'),
        ec2('network-interface/*'),
        ec2('placement-group/*'),
        ec2('volume/*'),
        ec2('subnet/*'),
        ec2(`security-group/${refs.securityGroupId}`),
      ],
    },
    { Action: 'ec2:RunInstances', Effect: 'Allow', Resource: ec2('instance/*'), Condition: requestTagged },
    { Action: ['ec2:CreateVolume'], Effect: 'Allow', Resource: [ec2('volume/*')], Condition: requestTagged },
    { Action: ['ec2:Describe*'], Effect: 'Allow', Resource: '*' },
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: ec2('*/*'),
      Condition: { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } },
    },
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: ec2('*/*'),
      Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    },
    {
      Action: [
        'ec2:CreateTags',
        'ec2:StartInstances',
        'ec2:StopInstances',
        'ec2:TerminateInstances',
        'ec2:AttachVolume',
        'ec2:DetachVolume',
        'ec2:DeleteVolume',
      ],
      Effect: 'Allow',
      Resource: ec2('*/*'),
      Condition: { StringEquals: { [`ec2:ResourceTag/${MANAGED_BY_TAG}`]: VM_SERVICE_MANAGED_BY } },
    },
    {
      Action: ['ec2:RunInstances', 'ec2:StartInstances', 'ec2:StopInstances', 'ec2:TerminateInstances'],
      Effect: 'Allow',
      Resource: ec2('subnet/*'),
      Condition: { StringEquals: { 'ec2:Vpc': refs.vpcArn } },
    },
  );
}

/** Velero's policy from the operations guide's AWS backup section, on the backups bucket only. */
export function veleroPolicy(backupsBucketArn: string, storageKeyArn: string): PolicyDocument {
  return doc(
    {
      Effect: 'Allow',
      Action: [
        'ec2:DescribeVolumes',
        'ec2:DescribeSnapshots',
        'ec2:CreateTags',
        'ec2:CreateVolume',
        'ec2:CreateSnapshot',
        'ec2:DeleteSnapshot',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: [
        's3:GetObject',
        's3:DeleteObject',
        's3:PutObject',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
      ],
      Resource: `${backupsBucketArn}/*`,
    },
    { Effect: 'Allow', Action: 's3:ListBucket', Resource: backupsBucketArn },
    // The backups bucket is SSE-KMS encrypted (the guide's bucket was not).
    storageKeyStatement(storageKeyArn, 'readWrite'),
  );
}

/** Nomad autoscaler: change only its own autoscaling group; read-only describes elsewhere. */
export function nomadAutoscalerPolicy(asgArn: string): PolicyDocument {
  return doc(
    {
      Sid: 'ScaleOnlyTheNomadClientGroup',
      Effect: 'Allow',
      Action: [
        'autoscaling:CreateOrUpdateTags',
        'autoscaling:UpdateAutoScalingGroup',
        'autoscaling:TerminateInstanceInAutoScalingGroup',
      ],
      Resource: asgArn,
    },
    {
      Sid: 'Describe',
      Effect: 'Allow',
      Action: [
        'autoscaling:DescribeScalingActivities',
        'autoscaling:DescribeAutoScalingGroups',
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceStatus',
      ],
      Resource: '*',
    },
  );
}

/**
 * Nomad client instances (the executor): pull job images from the account's ECR repositories. Job
 * containers cannot use this identity: the startup script drops their traffic to the metadata endpoint.
 */
export function nomadClientPolicy(partition: string, region: string, account: string): PolicyDocument {
  return doc(
    { Sid: 'EcrLogin', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
    {
      Sid: 'EcrPull',
      Effect: 'Allow',
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      Resource: `arn:${partition}:ecr:${region}:${account}:repository/*`,
    },
  );
}

/** ARN of an autoscaling group by name (the group's id part is a generated UUID). */
export const asgArn = (partition: string, region: string, account: string, name: string) =>
  `arn:${partition}:autoscaling:${region}:${account}:autoScalingGroup:*:autoScalingGroupName/${name}`;

/** AWS-managed policies attached to the EKS cluster and node roles. */
export const EKS_CLUSTER_MANAGED_POLICIES = ['AmazonEKSClusterPolicy'] as const;
export const EKS_NODE_MANAGED_POLICIES = [
  'AmazonEKSWorkerNodePolicy',
  'AmazonEKS_CNI_Policy',
  'AmazonEC2ContainerRegistryReadOnly',
] as const;
export const managedPolicyArn = (partition: string, name: string) => `arn:${partition}:iam::aws:policy/${name}`;

/**
 * Key policy of a customer-managed KMS key: the account administers it through IAM, and the service-linked
 * role of EC2 Auto Scaling may use it — without that grant, an autoscaling group (the Nomad clients, EKS
 * managed nodes) cannot launch instances whose volumes are encrypted with the key.
 */
export function kmsKeyPolicy(partition: string, account: string): PolicyDocument {
  const autoscaling = `arn:${partition}:iam::${account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
  return doc(
    {
      Sid: 'AccountAdministersThroughIam',
      Effect: 'Allow',
      Principal: { AWS: `arn:${partition}:iam::${account}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
    {
      Sid: 'AutoScalingUsesForVolumes',
      Effect: 'Allow',
      Principal: { AWS: autoscaling },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
    },
    {
      Sid: 'AutoScalingGrantsForVolumes',
      Effect: 'Allow',
      Principal: { AWS: autoscaling },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
    },
  );
}
