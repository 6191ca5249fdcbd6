/**
 * CrossGuard rules for Roundhouse stacks. Each rule reads resource properties by type token (no provider
 * SDK is loaded) and reports every violation it finds. The PolicyPack that serves them lives in pack.ts:
 * constructing one starts a gRPC server, so tests import this file only and call the rules directly.
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from '@pulumi/policy';
import { MANAGED_BY_LABEL, MANAGED_BY_TAG, VM_SERVICE_MANAGED_BY } from './tags.js';

type Props = Record<string, unknown>;
const obj = (v: unknown): Props => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Props) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const isWorld = (cidr: unknown) => cidr === '0.0.0.0/0' || cidr === '::/0';

/** Ports that must never be reachable from the internet: SSH, remote Docker, Nomad HTTP/RPC/Serf. */
export const ADMIN_PORTS: readonly (readonly [number, number])[] = [
  [22, 22],
  [2376, 2376],
  [4646, 4648],
];
const touchesAdminPort = (from: number, to: number) => ADMIN_PORTS.some(([a, b]) => from <= b && a <= to);

type Validate = (args: ResourceValidationArgs, report: ReportViolation) => void;
const rule = (name: string, description: string, validateResource: Validate): ResourceValidationPolicy => ({
  name,
  description,
  enforcementLevel: 'mandatory',
  validateResource,
});

export const bucketsPrivate = rule(
  'roundhouse-buckets-private',
  'Buckets block public access (S3 public access block fully on; GCS uniform access with public access prevention) and grant nothing to allUsers.',
  ({ type, props }, report) => {
    if (type === 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock') {
      for (const flag of ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'])
        if (props[flag] !== true) report(`S3 public access block must set ${flag}: true`);
    } else if (type === 'aws:s3/bucket:Bucket' || type === 'aws:s3/bucketAcl:BucketAcl') {
      const acl = str(props.acl);
      if (acl && acl !== 'private') report(`S3 bucket ACL ${acl} is not private`);
    } else if (type === 'gcp:storage/bucket:Bucket') {
      if (props.publicAccessPrevention !== 'enforced') report('GCS bucket must set publicAccessPrevention: enforced');
      if (props.uniformBucketLevelAccess !== true) report('GCS bucket must use uniform bucket-level access');
    } else if (type.startsWith('gcp:storage/bucketIAM')) {
      const members = [props.member, ...arr(props.members)].map(str);
      if (members.some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers'))
        report('GCS bucket IAM must not grant to allUsers or allAuthenticatedUsers');
    }
  },
);

export const bucketsEncrypted = rule(
  'roundhouse-buckets-encrypted',
  'Buckets are encrypted with a customer-managed KMS key (SSE-KMS on S3, CMEK on GCS).',
  ({ type, props }, report) => {
    if (type === 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration') {
      const rules = arr(props.rules);
      if (rules.length === 0) report('S3 encryption configuration has no rule');
      for (const r of rules) {
        const d = obj(obj(r).applyServerSideEncryptionByDefault);
        if (!['aws:kms', 'aws:kms:dsse'].includes(str(d.sseAlgorithm) ?? ''))
          report(`S3 encryption must be aws:kms, not ${d.sseAlgorithm}`);
        if (!str(d.kmsMasterKeyId)) report('S3 encryption must name the KMS key (kmsMasterKeyId)');
      }
    } else if (type === 'gcp:storage/bucket:Bucket') {
      if (!str(obj(props.encryption).defaultKmsKeyName))
        report('GCS bucket must set encryption.defaultKmsKeyName (CMEK)');
    }
  },
);

/** Port ranges a firewall `allow` entry opens ("all" or no ports = every port). */
function gcpAllowRanges(allow: Props): [number, number][] {
  const ports = arr(allow.ports).map(String);
  if (allow.protocol === 'all' || ports.length === 0) return [[0, 65535]];
  return ports.map((p) => {
    const [a, b] = p.split('-').map(Number);
    return [a, b ?? a];
  });
}

export const noPublicAdminIngress = rule(
  'roundhouse-no-public-admin-ingress',
  'Nothing opens SSH (22), remote Docker (2376) or Nomad (4646-4648) to 0.0.0.0/0 or ::/0.',
  ({ type, props }, report) => {
    const check = (sources: unknown[], protocol: unknown, from: number, to: number) => {
      if (!sources.some(isWorld)) return;
      const all = protocol === '-1' || protocol === 'all';
      if (all || touchesAdminPort(from, to))
        report(`ingress ${all ? 'on every port' : `${from}-${to}`} is open to the internet`);
    };
    const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);
    if (type === 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule') {
      check([props.cidrIpv4, props.cidrIpv6], props.ipProtocol, num(props.fromPort, 0), num(props.toPort, 65535));
    } else if (type === 'aws:ec2/securityGroupRule:SecurityGroupRule' && props.type === 'ingress') {
      check(
        [...arr(props.cidrBlocks), ...arr(props.ipv6CidrBlocks)],
        props.protocol,
        num(props.fromPort, 0),
        num(props.toPort, 65535),
      );
    } else if (type === 'aws:ec2/securityGroup:SecurityGroup') {
      for (const i of arr(props.ingress).map(obj))
        check([...arr(i.cidrBlocks), ...arr(i.ipv6CidrBlocks)], i.protocol, num(i.fromPort, 0), num(i.toPort, 65535));
    } else if (type === 'gcp:compute/firewall:Firewall' && (props.direction ?? 'INGRESS') === 'INGRESS') {
      for (const allow of arr(props.allows).map(obj))
        for (const [from, to] of gcpAllowRanges(allow)) check(arr(props.sourceRanges), allow.protocol, from, to);
    }
  },
);

export const nomadMetadataProtected = rule(
  'roundhouse-instance-metadata-v2',
  'Launch templates require IMDSv2 tokens (AWS); instance templates disable the legacy metadata endpoints (GCP).',
  ({ type, props }, report) => {
    if (type === 'aws:ec2/launchTemplate:LaunchTemplate' || type === 'aws:ec2/instance:Instance') {
      const m = obj(props.metadataOptions);
      if (m.httpTokens !== 'required')
        report('instance metadata must require IMDSv2 tokens (metadataOptions.httpTokens: required)');
    } else if (type === 'gcp:compute/instanceTemplate:InstanceTemplate') {
      if (obj(props.metadata)['disable-legacy-endpoints'] !== 'true')
        report('instance template must set metadata disable-legacy-endpoints: "true"');
    }
  },
);

const MAX_ROTATION_SECONDS = 365 * 24 * 3600;
export const kmsKeyRotation = rule(
  'roundhouse-kms-key-rotation',
  'Customer-managed keys rotate automatically (AWS key rotation on; GCP rotation period of at most a year).',
  ({ type, props }, report) => {
    if (type === 'aws:kms/key:Key') {
      if (props.enableKeyRotation !== true) report('KMS key must enable key rotation');
    } else if (type === 'gcp:kms/cryptoKey:CryptoKey') {
      const period = /^(\d+)s$/.exec(str(props.rotationPeriod) ?? '');
      if (!period) report('Cloud KMS key must set a rotationPeriod');
      else if (Number(period[1]) > MAX_ROTATION_SECONDS)
        report(`Cloud KMS key rotates every ${period[1]}s, more than a year`);
    }
  },
);

/** AWS resource types the stacks tag. */
export const AWS_TAGGED_TYPES: ReadonlySet<string> = new Set([
  'aws:ec2/vpc:Vpc',
  'aws:ec2/subnet:Subnet',
  'aws:ec2/internetGateway:InternetGateway',
  'aws:ec2/natGateway:NatGateway',
  'aws:ec2/eip:Eip',
  'aws:ec2/routeTable:RouteTable',
  'aws:ec2/defaultSecurityGroup:DefaultSecurityGroup',
  'aws:ec2/securityGroup:SecurityGroup',
  'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule',
  'aws:ec2/launchTemplate:LaunchTemplate',
  'aws:ec2/instance:Instance',
  'aws:kms/key:Key',
  'aws:s3/bucket:Bucket',
  'aws:iam/role:Role',
  'aws:iam/instanceProfile:InstanceProfile',
  'aws:iam/openIdConnectProvider:OpenIdConnectProvider',
  'aws:eks/cluster:Cluster',
  'aws:eks/nodeGroup:NodeGroup',
  'aws:rds/instance:Instance',
  'aws:rds/subnetGroup:SubnetGroup',
  'aws:rds/parameterGroup:ParameterGroup',
]);

/** GCP resource types the stacks label, and where their labels live. */
export const GCP_LABELLED_TYPES: Readonly<Record<string, (p: Props) => unknown>> = {
  'gcp:storage/bucket:Bucket': (p) => p.labels,
  'gcp:container/cluster:Cluster': (p) => p.resourceLabels,
  'gcp:compute/instanceTemplate:InstanceTemplate': (p) => p.labels,
  'gcp:sql/databaseInstance:DatabaseInstance': (p) => obj(p.settings).userLabels,
  'gcp:kms/cryptoKey:CryptoKey': (p) => p.labels,
};

export const managedByTags = rule(
  'roundhouse-managed-by-tags',
  `Every resource a stack creates says so: AWS tag ${MANAGED_BY_TAG}, GCP label ${MANAGED_BY_LABEL} — and never with the VM service's value, which would let the VM service delete it.`,
  ({ type, props }, report) => {
    let value: unknown;
    if (type === 'aws:autoscaling/group:Group') {
      const tag = arr(props.tags)
        .map(obj)
        .find((t) => t.key === MANAGED_BY_TAG);
      value = tag?.value;
      if (tag && tag.propagateAtLaunch !== true)
        report(`autoscaling group tag ${MANAGED_BY_TAG} must propagate to instances`);
    } else if (AWS_TAGGED_TYPES.has(type)) {
      value = obj(props.tags)[MANAGED_BY_TAG];
    } else if (type in GCP_LABELLED_TYPES) {
      value = obj(GCP_LABELLED_TYPES[type](props))[MANAGED_BY_LABEL];
    } else {
      return;
    }
    if (!str(value))
      report(`missing the ${type.startsWith('gcp:') ? `label ${MANAGED_BY_LABEL}` : `tag ${MANAGED_BY_TAG}`}`);
    else if (value === VM_SERVICE_MANAGED_BY)
      report(`${MANAGED_BY_TAG} ${value} belongs to the VM service's own instances`);
  },
);

export const clusterEndpointPrivate = rule(
  'roundhouse-cluster-endpoint-private',
  'The Kubernetes API is private, or public only to listed networks (never 0.0.0.0/0); GKE nodes are private.',
  ({ type, props }, report) => {
    if (type === 'aws:eks/cluster:Cluster') {
      const v = obj(props.vpcConfig);
      if (v.endpointPrivateAccess !== true)
        report('EKS endpoint must be reachable privately (endpointPrivateAccess: true)');
      // EKS's own default for a public endpoint is every address.
      if (v.endpointPublicAccess !== false) {
        const cidrs = arr(v.publicAccessCidrs);
        if (cidrs.length === 0 || cidrs.some(isWorld))
          report('EKS public endpoint must be limited to listed networks (publicAccessCidrs)');
      }
    } else if (type === 'gcp:container/cluster:Cluster') {
      const p = obj(props.privateClusterConfig);
      if (p.enablePrivateNodes !== true) report('GKE nodes must be private (privateClusterConfig.enablePrivateNodes)');
      if (p.enablePrivateEndpoint !== true) {
        const cidrs = arr(obj(props.masterAuthorizedNetworksConfig).cidrBlocks).map((c) => obj(c).cidrBlock);
        if (cidrs.length === 0 || cidrs.some(isWorld))
          report('GKE public endpoint must be limited to master authorized networks');
      }
    }
  },
);

export const databasePrivate = rule(
  'roundhouse-database-private-encrypted',
  'Managed PostgreSQL has no public address and encrypted storage.',
  ({ type, props }, report) => {
    if (type === 'aws:rds/instance:Instance') {
      if (props.publiclyAccessible === true) report('RDS instance must not be publicly accessible');
      if (props.storageEncrypted !== true) report('RDS storage must be encrypted');
    } else if (type === 'gcp:sql/databaseInstance:DatabaseInstance') {
      if (obj(obj(props.settings).ipConfiguration).ipv4Enabled !== false)
        report('Cloud SQL must not have a public IPv4 address');
    }
  },
);

export const RESOURCE_RULES: readonly ResourceValidationPolicy[] = [
  bucketsPrivate,
  bucketsEncrypted,
  noPublicAdminIngress,
  nomadMetadataProtected,
  kmsKeyRotation,
  managedByTags,
  clusterEndpointPrivate,
  databasePrivate,
];

/** Ids a resource may be referred to by (an S3 bucket: its name, which is also its id). */
const refsOf = (r: PolicyResource) => [str(r.props.id), str(r.props.bucket)].filter((x): x is string => !!x);

export const everyBucketLockedDown: StackValidationPolicy = {
  name: 'roundhouse-every-s3-bucket-locked-down',
  description: 'Every S3 bucket has a public access block and a KMS encryption configuration of its own.',
  enforcementLevel: 'mandatory',
  validateStack: ({ resources }, report) => {
    const targets = (t: string) => new Set(resources.filter((r) => r.type === t).map((r) => str(r.props.bucket)));
    const blocked = targets('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock');
    const encrypted = targets('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration');
    for (const b of resources.filter((r) => r.type === 'aws:s3/bucket:Bucket')) {
      const refs = refsOf(b);
      if (!refs.some((x) => blocked.has(x))) report(`bucket ${b.name} has no public access block`, b.urn);
      if (!refs.some((x) => encrypted.has(x))) report(`bucket ${b.name} has no KMS encryption configuration`, b.urn);
    }
  },
};

export const STACK_RULES: readonly StackValidationPolicy[] = [everyBucketLockedDown];
