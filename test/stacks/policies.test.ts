import test from 'ava';
import { RUNTIME_ROLES } from '../../policies/access.js';
import { irsaTrust, runtimeRolePolicy, veleroPolicy, vmServicePolicy } from '../../policies/aws-iam.js';
import {
  bucketsEncrypted,
  bucketsPrivate,
  clusterEndpointPrivate,
  databasePrivate,
  everyBucketLockedDown,
  kmsKeyRotation,
  managedByTags,
  noPublicAdminIngress,
  nomadMetadataProtected,
  RESOURCE_RULES,
} from '../../policies/rules.js';
import { collector, resourceArgs, stackArgs } from './helpers.js';

type Rule = (typeof RESOURCE_RULES)[number];
type Case = readonly [type: string, props: Record<string, unknown>];

/** Calls a rule's validation function the way CrossGuard does; returns the violations. */
function check(rule: Rule, [type, props]: Case): string[] {
  const { report, violations } = collector();
  (rule.validateResource as (a: ReturnType<typeof resourceArgs>, r: typeof report) => void)(
    resourceArgs(type, props),
    report,
  );
  return violations;
}

const managed = { ManagedBy: 'roundhouse-stacks' };
const cases: [Rule, Case[], Case[]][] = [
  [
    bucketsPrivate,
    [
      [
        'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
        { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      ],
      ['gcp:storage/bucket:Bucket', { publicAccessPrevention: 'enforced', uniformBucketLevelAccess: true }],
      ['gcp:storage/bucketIAMMember:BucketIAMMember', { member: 'serviceAccount:a@p.iam.gserviceaccount.com' }],
    ],
    [
      [
        'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
        { blockPublicAcls: true, blockPublicPolicy: false, ignorePublicAcls: true, restrictPublicBuckets: true },
      ],
      ['aws:s3/bucket:Bucket', { acl: 'public-read' }],
      ['gcp:storage/bucket:Bucket', { publicAccessPrevention: 'inherited', uniformBucketLevelAccess: true }],
      ['gcp:storage/bucketIAMMember:BucketIAMMember', { member: 'allUsers' }],
    ],
  ],
  [
    bucketsEncrypted,
    [
      [
        'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
        {
          rules: [
            {
              applyServerSideEncryptionByDefault: {
                sseAlgorithm: 'aws:kms',
                kmsMasterKeyId: 'arn:aws:kms:us-east-1:1:key/k',
              },
            },
          ],
        },
      ],
      [
        'gcp:storage/bucket:Bucket',
        { encryption: { defaultKmsKeyName: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' } },
      ],
    ],
    [
      [
        'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
        { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
      ],
      ['gcp:storage/bucket:Bucket', {}],
    ],
  ],
  [
    noPublicAdminIngress,
    [
      [
        'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
        { ipProtocol: 'tcp', fromPort: 64535, toPort: 65535, cidrIpv4: '0.0.0.0/0' },
      ],
      [
        'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
        { ipProtocol: 'tcp', fromPort: 4646, toPort: 4648, cidrIpv4: '10.40.0.0/16' },
      ],
      ['gcp:compute/firewall:Firewall', { sourceRanges: ['0.0.0.0/0'], allows: [{ protocol: 'tcp', ports: ['443'] }] }],
      [
        'gcp:compute/firewall:Firewall',
        { sourceTags: ['nomad'], allows: [{ protocol: 'tcp', ports: ['22', '2376'] }] },
      ],
    ],
    [
      [
        'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
        { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' },
      ],
      ['aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule', { ipProtocol: '-1', cidrIpv6: '::/0' }],
      [
        'aws:ec2/securityGroupRule:SecurityGroupRule',
        { type: 'ingress', protocol: 'tcp', fromPort: 2000, toPort: 3000, cidrBlocks: ['0.0.0.0/0'] },
      ],
      [
        'aws:ec2/securityGroup:SecurityGroup',
        { ingress: [{ protocol: 'tcp', fromPort: 4647, toPort: 4647, cidrBlocks: ['0.0.0.0/0'] }] },
      ],
      [
        'gcp:compute/firewall:Firewall',
        { sourceRanges: ['0.0.0.0/0'], allows: [{ protocol: 'tcp', ports: ['4640-4650'] }] },
      ],
      ['gcp:compute/firewall:Firewall', { sourceRanges: ['0.0.0.0/0'], allows: [{ protocol: 'all' }] }],
    ],
  ],
  [
    nomadMetadataProtected,
    [
      [
        'aws:ec2/launchTemplate:LaunchTemplate',
        { metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1 } },
      ],
      ['gcp:compute/instanceTemplate:InstanceTemplate', { metadata: { 'disable-legacy-endpoints': 'true' } }],
    ],
    [
      ['aws:ec2/launchTemplate:LaunchTemplate', { metadataOptions: { httpTokens: 'optional' } }],
      ['aws:ec2/launchTemplate:LaunchTemplate', {}],
      ['gcp:compute/instanceTemplate:InstanceTemplate', { metadata: {} }],
    ],
  ],
  [
    kmsKeyRotation,
    [
      ['aws:kms/key:Key', { enableKeyRotation: true }],
      ['gcp:kms/cryptoKey:CryptoKey', { rotationPeriod: '7776000s' }],
    ],
    [
      ['aws:kms/key:Key', { enableKeyRotation: false }],
      ['gcp:kms/cryptoKey:CryptoKey', {}],
      ['gcp:kms/cryptoKey:CryptoKey', { rotationPeriod: '63072000s' }],
    ],
  ],
  [
    managedByTags,
    [
      ['aws:s3/bucket:Bucket', { tags: managed }],
      [
        'aws:autoscaling/group:Group',
        { tags: [{ key: 'ManagedBy', value: 'roundhouse-stacks', propagateAtLaunch: true }] },
      ],
      ['gcp:storage/bucket:Bucket', { labels: { 'managed-by': 'roundhouse-stacks' } }],
      [
        'gcp:sql/databaseInstance:DatabaseInstance',
        { settings: { userLabels: { 'managed-by': 'roundhouse-stacks' } } },
      ],
    ],
    [
      ['aws:ec2/vpc:Vpc', { tags: { Name: 'x' } }],
      ['aws:iam/role:Role', {}],
      ['aws:ec2/launchTemplate:LaunchTemplate', { tags: { ManagedBy: 'circleci-vm-service' } }],
      [
        'aws:autoscaling/group:Group',
        { tags: [{ key: 'ManagedBy', value: 'roundhouse-stacks', propagateAtLaunch: false }] },
      ],
      ['gcp:container/cluster:Cluster', { resourceLabels: {} }],
    ],
  ],
  [
    clusterEndpointPrivate,
    [
      ['aws:eks/cluster:Cluster', { vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: false } }],
      [
        'aws:eks/cluster:Cluster',
        {
          vpcConfig: {
            endpointPrivateAccess: true,
            endpointPublicAccess: true,
            publicAccessCidrs: ['198.51.100.0/24'],
          },
        },
      ],
      [
        'gcp:container/cluster:Cluster',
        { privateClusterConfig: { enablePrivateNodes: true, enablePrivateEndpoint: true } },
      ],
      [
        'gcp:container/cluster:Cluster',
        {
          privateClusterConfig: { enablePrivateNodes: true },
          masterAuthorizedNetworksConfig: { cidrBlocks: [{ cidrBlock: '198.51.100.0/24' }] },
        },
      ],
    ],
    [
      ['aws:eks/cluster:Cluster', { vpcConfig: { endpointPrivateAccess: true } }],
      [
        'aws:eks/cluster:Cluster',
        { vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ['0.0.0.0/0'] } },
      ],
      [
        'gcp:container/cluster:Cluster',
        { privateClusterConfig: { enablePrivateNodes: false, enablePrivateEndpoint: true } },
      ],
      [
        'gcp:container/cluster:Cluster',
        { privateClusterConfig: { enablePrivateNodes: true }, masterAuthorizedNetworksConfig: { cidrBlocks: [] } },
      ],
    ],
  ],
  [
    databasePrivate,
    [
      ['aws:rds/instance:Instance', { publiclyAccessible: false, storageEncrypted: true }],
      ['gcp:sql/databaseInstance:DatabaseInstance', { settings: { ipConfiguration: { ipv4Enabled: false } } }],
    ],
    [
      ['aws:rds/instance:Instance', { publiclyAccessible: true, storageEncrypted: true }],
      ['aws:rds/instance:Instance', { storageEncrypted: false }],
      ['gcp:sql/databaseInstance:DatabaseInstance', { settings: { ipConfiguration: { ipv4Enabled: true } } }],
    ],
  ],
];

for (const [rule, compliant, violating] of cases) {
  test(`CrossGuard rule ${rule.name}: compliant resources pass, violating ones are reported (validation function called directly)`, (t) => {
    for (const c of compliant) t.deepEqual(check(rule, c), [], `${c[0]} ${JSON.stringify(c[1])}`);
    for (const c of violating) t.true(check(rule, c).length > 0, `${c[0]} ${JSON.stringify(c[1])} should be reported`);
  });
}

test('every resource rule of the pack has a compliant and a violating case above, and is mandatory', (t) => {
  t.deepEqual(cases.map(([r]) => r.name).sort(), RESOURCE_RULES.map((r) => r.name).sort());
  t.true(RESOURCE_RULES.every((r) => r.enforcementLevel === 'mandatory'));
});

test('CrossGuard stack rule: every S3 bucket needs its own public access block and KMS encryption', (t) => {
  const bucket = { type: 'aws:s3/bucket:Bucket', name: 'b', props: { bucket: 'rh-outputs', id: 'rh-outputs' } };
  const pab = {
    type: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
    name: 'p',
    props: { bucket: 'rh-outputs' },
  };
  const sse = {
    type: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
    name: 'e',
    props: { bucket: 'rh-outputs' },
  };
  const run = (resources: { type: string; name: string; props: Record<string, unknown> }[]) => {
    const { report, violations } = collector();
    (everyBucketLockedDown.validateStack as (a: ReturnType<typeof stackArgs>, r: typeof report) => void)(
      stackArgs(resources),
      report,
    );
    return violations;
  };
  t.deepEqual(run([bucket, pab, sse]), []);
  t.deepEqual(run([bucket, sse]), ['bucket b has no public access block']);
  t.deepEqual(run([bucket, pab]), ['bucket b has no KMS encryption configuration']);
});

test('IAM documents: no runtime role gets a wildcard action or an S3 grant on every bucket', (t) => {
  for (const role of RUNTIME_ROLES) {
    const doc =
      role === 'vm-service'
        ? vmServicePolicy({
            partition: 'aws',
            securityGroupId: 'sg-1',
            vpcArn: 'arn:aws:ec2:eu-west-1:1:vpc/vpc-1',
          })
        : runtimeRolePolicy(role, {
            partition: 'aws',
            buckets: { outputs: 'o', caches: 'c', audit: 'a', backups: 'b' },
            storageKeyArn: 'k1',
            secretsKeyArn: 'k2',
          });
    t.truthy(doc, role);
    for (const s of doc!.Statement) {
      const actions = [s.Action].flat();
      t.false(
        actions.some((a) => a === '*' || a.endsWith(':*')),
        `${role}: ${actions}`,
      );
      if (actions.some((a) => a.startsWith('s3:'))) t.not(s.Resource, '*', role);
    }
  }
});

test('IAM documents: Velero and IRSA trust follow the operations guide and IRSA conventions', (t) => {
  const velero = veleroPolicy('arn:aws-us-gov:s3:::backups', 'arn:aws-us-gov:kms:us-gov-west-1:1:key/k');
  t.deepEqual(velero.Statement[2], {
    Effect: 'Allow',
    Action: 's3:ListBucket',
    Resource: 'arn:aws-us-gov:s3:::backups',
  });
  const trust = irsaTrust('arn:aws:iam::1:oidc-provider/oidc.example/id/X', 'oidc.example/id/X', 'roundhouse', 'api');
  t.deepEqual(trust.Statement[0].Condition, {
    StringEquals: {
      'oidc.example/id/X:sub': 'system:serviceaccount:roundhouse:api',
      'oidc.example/id/X:aud': 'sts.amazonaws.com',
    },
  });
});
