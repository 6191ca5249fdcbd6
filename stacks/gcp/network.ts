/**
 * VPC network with regional subnetworks carved from the VPC range (16 equal blocks): cluster nodes,
 * Nomad clients and VM-service VMs each get their own, GKE services a block, Cloud SQL's private
 * services access a block, and GKE pods the upper half. Cloud NAT gives private machines egress.
 * A block's position is fixed: moving it would replace the subnetwork.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { subnetOf } from '../cidr.js';

export const GCP_BLOCKS = { cluster: 0, nomad: 1, vms: 2, services: 3, privateServices: 4 } as const;

export const gcpRanges = (vpcCidr: string) => ({
  cluster: subnetOf(vpcCidr, 4, GCP_BLOCKS.cluster),
  nomad: subnetOf(vpcCidr, 4, GCP_BLOCKS.nomad),
  vms: subnetOf(vpcCidr, 4, GCP_BLOCKS.vms),
  services: subnetOf(vpcCidr, 4, GCP_BLOCKS.services),
  privateServices: subnetOf(vpcCidr, 4, GCP_BLOCKS.privateServices),
  pods: subnetOf(vpcCidr, 1, 1),
});

export interface GcpNetworkArgs {
  readonly environment: string;
  readonly project: string;
  readonly region: string;
  readonly cidr: string;
}

export class GcpNetwork extends pulumi.ComponentResource {
  readonly networkId: pulumi.Output<string>;
  readonly networkName: string;
  readonly network: gcp.compute.Network;
  readonly subnetworkIds: { cluster: pulumi.Output<string>; nomad: pulumi.Output<string>; vms: pulumi.Output<string> };
  readonly ranges: ReturnType<typeof gcpRanges>;

  constructor(name: string, args: GcpNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:Network', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    this.ranges = gcpRanges(args.cidr);
    this.networkName = `roundhouse-${env}`;

    const network = new gcp.compute.Network(
      name,
      {
        name: this.networkName,
        autoCreateSubnetworks: false,
        routingMode: 'REGIONAL',
        deleteDefaultRoutesOnCreate: false,
      },
      parent,
    );
    // Resource ids are predictable paths; using them keeps plans complete before anything exists.
    this.network = network;
    this.networkId = pulumi.interpolate`projects/${args.project}/global/networks/${this.networkName}`;
    const subnet = (tier: 'cluster' | 'nomad' | 'vms', extra: Partial<gcp.compute.SubnetworkArgs> = {}) => {
      const subnetName = `roundhouse-${env}-${tier}`;
      new gcp.compute.Subnetwork(
        `${name}-${tier}`,
        {
          name: subnetName,
          region: args.region,
          network: network.id,
          ipCidrRange: this.ranges[tier],
          privateIpGoogleAccess: true,
          logConfig: { aggregationInterval: 'INTERVAL_5_MIN', flowSampling: 0.5, metadata: 'INCLUDE_ALL_METADATA' },
          ...extra,
        },
        parent,
      );
      return pulumi.output(`projects/${args.project}/regions/${args.region}/subnetworks/${subnetName}`);
    };
    this.subnetworkIds = {
      cluster: subnet('cluster', {
        secondaryIpRanges: [
          { rangeName: 'pods', ipCidrRange: this.ranges.pods },
          { rangeName: 'services', ipCidrRange: this.ranges.services },
        ],
      }),
      nomad: subnet('nomad'),
      vms: subnet('vms'),
    };

    const router = new gcp.compute.Router(
      `${name}-router`,
      { name: `roundhouse-${env}`, region: args.region, network: network.id },
      parent,
    );
    new gcp.compute.RouterNat(
      `${name}-nat`,
      {
        name: `roundhouse-${env}`,
        router: router.name,
        region: args.region,
        natIpAllocateOption: 'AUTO_ONLY',
        sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
        logConfig: { enable: true, filter: 'ERRORS_ONLY' },
      },
      parent,
    );

    this.registerOutputs({ networkId: this.networkId, subnetworkIds: this.subnetworkIds });
  }
}
