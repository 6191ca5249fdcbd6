/**
 * VPC across the configured zones. The VPC range is cut into 16 equal blocks, four tiers of four zones:
 * public (load balancers, NAT), cluster (EKS nodes, database), nomad (clients), vms (VM-service VMs).
 * The hardening guide asks for distinct subnets per kind of machine so rules can tell them apart.
 * A subnet's block is fixed by (tier, zone index): changing it would replace the subnet.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { subnetOf } from '../cidr.js';
import { awsTags } from '../common.js';

export const TIERS = ['public', 'cluster', 'nomad', 'vms'] as const;
export type Tier = (typeof TIERS)[number];

/** CIDR of a tier's subnet in the zone at `zoneIndex`. */
export const tierCidr = (vpcCidr: string, tier: Tier, zoneIndex: number) =>
  subnetOf(vpcCidr, 4, TIERS.indexOf(tier) * 4 + zoneIndex);

export interface NetworkArgs {
  readonly environment: string;
  readonly cidr: string;
  readonly zones: readonly string[];
  /** Name of the EKS cluster, for the subnet discovery tags of its load balancers. */
  readonly clusterName: string;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly subnetIds: Record<Tier, pulumi.Output<string>[]>;
  readonly subnetCidrs: Record<Tier, string[]>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:Network', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const tags = (n: string, extra: Record<string, string> = {}) => ({ ...awsTags(env, n), ...extra });

    const vpc = new aws.ec2.Vpc(
      name,
      { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags('vpc') },
      parent,
    );
    // The default security group of a VPC allows all traffic between its members: empty it.
    new aws.ec2.DefaultSecurityGroup(`${name}-default`, { vpcId: vpc.id, tags: tags('default-deny') }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags('igw') }, parent);

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }], tags: tags('public') },
      parent,
    );

    this.subnetIds = { public: [], cluster: [], nomad: [], vms: [] };
    this.subnetCidrs = { public: [], cluster: [], nomad: [], vms: [] };
    const elbTag = { [`kubernetes.io/cluster/${args.clusterName}`]: 'shared' };

    args.zones.forEach((zone, i) => {
      const subnet = (tier: Tier, extra: Record<string, string>) => {
        const cidr = tierCidr(args.cidr, tier, i);
        const s = new aws.ec2.Subnet(
          `${name}-${tier}-${zone}`,
          {
            vpcId: vpc.id,
            cidrBlock: cidr,
            availabilityZone: zone,
            // Nothing gets a public address by default, not even in the public tier (NAT and LBs have their own).
            mapPublicIpOnLaunch: false,
            tags: tags(`${tier}-${zone}`, extra),
          },
          parent,
        );
        this.subnetIds[tier].push(s.id);
        this.subnetCidrs[tier].push(cidr);
        return s;
      };
      const pub = subnet('public', { ...elbTag, 'kubernetes.io/role/elb': '1' });
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${zone}`,
        { subnetId: pub.id, routeTableId: publicRoutes.id },
        parent,
      );

      const eip = new aws.ec2.Eip(`${name}-nat-${zone}`, { domain: 'vpc', tags: tags(`nat-${zone}`) }, parent);
      const nat = new aws.ec2.NatGateway(
        `${name}-nat-${zone}`,
        { allocationId: eip.id, subnetId: pub.id, tags: tags(`nat-${zone}`) },
        { ...parent, dependsOn: [igw] },
      );
      // One NAT per zone: losing a zone does not cut the others off the internet.
      const privateRoutes = new aws.ec2.RouteTable(
        `${name}-private-${zone}`,
        { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }], tags: tags(`private-${zone}`) },
        parent,
      );
      for (const tier of ['cluster', 'nomad', 'vms'] as const) {
        const extra: Record<string, string> =
          tier === 'cluster' ? { ...elbTag, 'kubernetes.io/role/internal-elb': '1' } : {};
        const s = subnet(tier, extra);
        new aws.ec2.RouteTableAssociation(
          `${name}-${tier}-${zone}`,
          { subnetId: s.id, routeTableId: privateRoutes.id },
          parent,
        );
      }
    });

    this.vpcId = vpc.id;
    this.registerOutputs({ vpcId: this.vpcId, subnetIds: this.subnetIds });
  }
}
