/**
 * Cloud SQL PostgreSQL (when roundhouse:database is `managed`): private IP only through private services
 * access, TLS required, CMEK with the storage key, point-in-time recovery, deletion-protected.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { DATABASE_NAME, DATABASE_USER, POSTGRES_PORT } from '../aws/database.js';
import { parseCidr } from '../cidr.js';
import { computed, gcpLabels } from '../common.js';
import type { Settings } from '../config.js';
import { databasePassword } from '../database-password.js';

export interface CloudSqlArgs {
  readonly environment: string;
  readonly project: string;
  readonly region: string;
  readonly database: Settings['database'];
  readonly networkId: pulumi.Input<string>;
  readonly network: pulumi.Resource;
  /** Range reserved for Google's service producer network (a block of the VPC range). */
  readonly privateServicesCidr: string;
  readonly storageKeyId: string;
  readonly dependsOn: pulumi.Resource[];
}

export class CloudSql extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: CloudSqlArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:gcp:Database', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const db = args.database;
    const instanceName = `roundhouse-${env}`;

    const range = parseCidr(args.privateServicesCidr);
    if (!range) throw new Error(`CloudSql: ${args.privateServicesCidr} is not a CIDR`);
    const reserved = new gcp.compute.GlobalAddress(
      `${name}-private-services`,
      {
        name: `roundhouse-${env}-private-services`,
        purpose: 'VPC_PEERING',
        addressType: 'INTERNAL',
        address: args.privateServicesCidr.split('/')[0],
        prefixLength: range.prefix,
        network: args.networkId,
        labels: gcpLabels(env),
      },
      { ...parent, dependsOn: [args.network] },
    );
    const peering = new gcp.servicenetworking.Connection(
      `${name}-peering`,
      { network: args.networkId, service: 'servicenetworking.googleapis.com', reservedPeeringRanges: [reserved.name] },
      parent,
    );

    const instance = new gcp.sql.DatabaseInstance(
      `${name}-instance`,
      {
        name: instanceName,
        region: args.region,
        databaseVersion: `POSTGRES_${db.version}`,
        encryptionKeyName: args.storageKeyId,
        deletionProtection: true,
        settings: {
          tier: db.instanceClass,
          availabilityType: db.highAvailability ? 'REGIONAL' : 'ZONAL',
          diskType: 'PD_SSD',
          diskSize: db.storageGb,
          diskAutoresize: true,
          ipConfiguration: { ipv4Enabled: false, privateNetwork: args.networkId, sslMode: 'ENCRYPTED_ONLY' },
          backupConfiguration: { enabled: true, pointInTimeRecoveryEnabled: true, startTime: '03:00' },
          deletionProtectionEnabled: true,
          userLabels: gcpLabels(env),
        },
      },
      { ...parent, dependsOn: [peering, ...args.dependsOn] },
    );
    new gcp.sql.Database(
      `${name}-db`,
      { name: DATABASE_NAME, instance: instanceName },
      { ...parent, dependsOn: [instance] },
    );
    const password = databasePassword(name, parent);
    new gcp.sql.User(
      `${name}-user`,
      { name: DATABASE_USER, instance: instanceName, password },
      { ...parent, dependsOn: [instance] },
    );

    this.host = computed(instance.privateIpAddress, `${instanceName}.cloudsql.invalid`);
    this.url = pulumi.secret(
      pulumi.interpolate`postgres://${DATABASE_USER}:${password}@${this.host}:${POSTGRES_PORT}/${DATABASE_NAME}?sslmode=require`,
    );
    this.registerOutputs({ host: this.host });
  }
}
