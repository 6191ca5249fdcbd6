/**
 * RDS PostgreSQL (when roundhouse:database is `managed`): private, encrypted with the storage key, TLS
 * enforced, reachable on 5432 only from the cluster subnets, deletion-protected, with a final snapshot.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { awsTags, computed } from '../common.js';
import type { Settings } from '../config.js';
import { databasePassword } from '../database-password.js';

export const DATABASE_NAME = 'roundhouse';
export const DATABASE_USER = 'roundhouse';
export const POSTGRES_PORT = 5432;

export interface DatabaseArgs {
  readonly environment: string;
  readonly database: Settings['database'];
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<string>[];
  readonly clientCidrs: readonly string[];
  readonly storageKeyArn: pulumi.Input<string>;
}

export class Database extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  /** `DATABASE_URL` for the runtime (secret). */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:aws:Database', name, {}, opts);
    const parent = { parent: this };
    const env = args.environment;
    const db = args.database;
    const identifier = `roundhouse-${env}`;

    const subnets = new aws.rds.SubnetGroup(
      `${name}-subnets`,
      { name: identifier, subnetIds: args.subnetIds, tags: awsTags(env, 'db-subnets') },
      parent,
    );
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        name: `roundhouse-${env}-database`,
        description: 'Roundhouse PostgreSQL',
        vpcId: args.vpcId,
        tags: awsTags(env, 'database'),
      },
      parent,
    );
    args.clientCidrs.forEach((cidr, i) => {
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-from-cluster-${i}`,
        {
          securityGroupId: sg.id,
          ipProtocol: 'tcp',
          fromPort: POSTGRES_PORT,
          toPort: POSTGRES_PORT,
          cidrIpv4: cidr,
          description: 'PostgreSQL from the cluster subnets',
          tags: awsTags(env, `database-from-cluster-${i}`),
        },
        parent,
      );
    });
    const params = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        name: `${identifier}-pg${db.version}`,
        family: `postgres${db.version}`,
        parameters: [{ name: 'rds.force_ssl', value: '1' }],
        tags: awsTags(env, 'db-params'),
      },
      parent,
    );

    const password = databasePassword(name, parent);
    const instance = new aws.rds.Instance(
      `${name}-instance`,
      {
        identifier,
        engine: 'postgres',
        engineVersion: db.version,
        instanceClass: db.instanceClass,
        allocatedStorage: db.storageGb,
        maxAllocatedStorage: db.storageGb * 2,
        storageType: 'gp3',
        storageEncrypted: true,
        kmsKeyId: args.storageKeyArn,
        dbName: DATABASE_NAME,
        username: DATABASE_USER,
        password,
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: [sg.id],
        parameterGroupName: params.name,
        multiAz: db.highAvailability,
        publiclyAccessible: false,
        backupRetentionPeriod: 7,
        copyTagsToSnapshot: true,
        deletionProtection: true,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: `${identifier}-final`,
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: true,
        performanceInsightsKmsKeyId: args.storageKeyArn,
        tags: awsTags(env, 'database'),
      },
      parent,
    );

    this.host = computed(instance.address, `${identifier}.rds.invalid`);
    this.url = pulumi.secret(
      pulumi.interpolate`postgres://${DATABASE_USER}:${password}@${this.host}:${POSTGRES_PORT}/${DATABASE_NAME}?sslmode=require`,
    );
    this.registerOutputs({ host: this.host });
  }
}
