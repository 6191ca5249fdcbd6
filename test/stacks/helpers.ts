/**
 * Runs the Pulumi program (stacks/index.ts) under `pulumi.runtime.setMocks` — no Pulumi CLI and no cloud
 * are reachable here — with a stack file's configuration supplied as the engine supplies it
 * (PULUMI_CONFIG), and records every resource the program declares.
 *
 * A module is imported once per process, so each test file runs at most one program (ava gives every
 * file its own process).
 */
import { readFileSync } from 'node:fs';
import type * as pulumi from '@pulumi/pulumi';
import type { PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from '@pulumi/policy';
import { parse } from 'yaml';

export const ROOT = new URL('../../', import.meta.url);

export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly inputs: Record<string, any>;
  readonly id: string;
}

/** A stack file's `config:` as PULUMI_CONFIG holds it: strings as they are, everything else as JSON. */
export function stackConfig(file: string): Record<string, string> {
  const doc = parse(readFileSync(new URL(file, ROOT), 'utf8')) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

const FAKE_PEM = (what: string) =>
  `-----BEGIN ${what}-----\nMIIFAKE${Buffer.from(what).toString('base64')}\n-----END ${what}-----\n`;

/**
 * Properties the cloud computes, for the few resources whose outputs the program reads. Without them a
 * mock returns only the inputs (as in `inputsOnly` runs, which must work too).
 */
function computedState(type: string, name: string): Record<string, unknown> {
  switch (type) {
    case 'tls:index/privateKey:PrivateKey':
      return { privateKeyPem: FAKE_PEM(`PRIVATE KEY ${name}`) };
    case 'tls:index/selfSignedCert:SelfSignedCert':
    case 'tls:index/locallySignedCert:LocallySignedCert':
      return { certPem: FAKE_PEM(`CERTIFICATE ${name}`) };
    case 'tls:index/certRequest:CertRequest':
      return { certRequestPem: FAKE_PEM(`CERTIFICATE REQUEST ${name}`) };
    case 'aws:eks/cluster:Cluster':
      return {
        endpoint: 'https://ABC123.gr7.us-east-1.eks.amazonaws.com',
        certificateAuthority: { data: 'Q0EtREFUQQ==' },
        identities: [{ oidcs: [{ issuer: 'https://oidc.eks.us-east-1.amazonaws.com/id/ABC123' }] }],
      };
    case 'aws:rds/instance:Instance':
      return { address: 'roundhouse.abc.us-east-1.rds.amazonaws.com' };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { latestVersion: 3 };
    case 'gcp:container/cluster:Cluster':
      return { endpoint: '172.16.0.34', masterAuth: { clusterCaCertificate: 'Q0EtREFUQQ==' } };
    case 'gcp:sql/databaseInstance:DatabaseInstance':
      return { privateIpAddress: '10.40.64.3' };
    default:
      return {};
  }
}

export interface ProgramRun {
  readonly resources: Recorded[];
  readonly calls: string[];
  readonly exports: Record<string, any>;
}

/** Imports stacks/index.ts under mocks with the given stack file; resolves once every resource is registered. */
export async function runProgram(opts: {
  stackFile: string;
  stack: string;
  inputsOnly?: boolean;
  override?: Record<string, string>;
}): Promise<ProgramRun> {
  const resources: Recorded[] = [];
  const calls: string[] = [];
  // Loaded here, not at the top: tests of pure functions import this file without paying for the SDK.
  const pulumi = await import('@pulumi/pulumi');
  process.env.PULUMI_CONFIG = JSON.stringify({ ...stackConfig(opts.stackFile), ...opts.override });
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const id = `${args.name}_id`;
        resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: args.inputs, id });
        const extra = opts.inputsOnly ? {} : computedState(args.type, args.name);
        return { id, state: { ...args.inputs, ...extra } };
      },
      call(args) {
        // The program must not depend on data sources (their results are unknown while planning a new stack).
        calls.push(args.token);
        return args.inputs;
      },
    },
    'roundhouse',
    opts.stack,
    false,
  );
  const exports = (await import('../../stacks/index.js')) as Record<string, unknown>;
  // Every registration and every apply the program started.
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return { resources, calls, exports };
}

const SECRET_SIG = '4dabf18193072939515e22adb298388d';

/** A resource's inputs with Pulumi's secret wrappers removed (the engine hands rules plain values). */
export function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (SECRET_SIG in o) return plain(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** Inputs of a recorded resource, unwrapped. */
export const inputsOf = (r: Recorded): Record<string, any> => plain(r.inputs) as Record<string, any>;

/** A JSON policy document property, parsed. */
export const docOf = (r: Recorded, prop: string): any => JSON.parse(inputsOf(r)[prop]);

export function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

export const ofType = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type);

export function one(run: ProgramRun, type: string, name: string): Recorded {
  const r = run.resources.find((x) => x.type === type && x.name === name);
  if (!r) {
    const names = ofType(run, type).map((x) => x.name);
    throw new Error(`no ${type} named ${name} (there are: ${names.join(', ') || 'none'})`);
  }
  return r;
}

// --- CrossGuard rules called directly ---------------------------------------------------------------

const notApplicable = (reason?: string): never => {
  throw new Error(`notApplicable: ${reason}`);
};

/** The arguments CrossGuard passes to a resource rule, for a resource of `type` with `props`. */
export function resourceArgs(type: string, props: Record<string, unknown>, name = 'r'): ResourceValidationArgs {
  return {
    type,
    props,
    urn: `urn:pulumi:test::roundhouse::${type}::${name}`,
    name,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    isType: (cls: { __pulumiType?: string }) => cls.__pulumiType === type,
    asType: (cls: { __pulumiType?: string }) => (cls.__pulumiType === type ? props : undefined),
    getConfig: <T extends object>() => ({}) as T,
    notApplicable,
  } as unknown as ResourceValidationArgs;
}

export function stackArgs(
  resources: { type: string; props: Record<string, unknown>; name: string }[],
): StackValidationArgs {
  return {
    resources: resources.map(
      (r) =>
        ({
          type: r.type,
          props: r.props,
          urn: `urn:pulumi:test::roundhouse::${r.type}::${r.name}`,
          name: r.name,
          opts: {},
          dependencies: [],
          propertyDependencies: {},
          isType: () => false,
          asType: () => undefined,
        }) as unknown as PolicyResource,
    ),
    getConfig: <T extends object>() => ({}) as T,
    notApplicable,
  } as unknown as StackValidationArgs;
}

/** Collects the violations a rule reports. */
export function collector(): { report: ReportViolation; violations: string[] } {
  const violations: string[] = [];
  return { report: (message: string) => violations.push(message), violations };
}

/**
 * Runs every resource rule over every custom resource of a run, and the stack rules over the whole run;
 * returns the violations as "rule: type name: message".
 */
export function violationsOf(
  run: ProgramRun,
  rules: readonly { name: string; validateResource?: unknown }[],
  stackRules: readonly { name: string; validateStack?: unknown }[],
): string[] {
  const out: string[] = [];
  const custom = run.resources.filter((r) => r.custom && !r.type.startsWith('pulumi:providers:'));
  for (const rule of rules) {
    const validate = rule.validateResource as (a: ResourceValidationArgs, r: ReportViolation) => void;
    for (const r of custom)
      validate(resourceArgs(r.type, inputsOf(r), r.name), (m) => out.push(`${rule.name}: ${r.type} ${r.name}: ${m}`));
  }
  const all = custom.map((r) => ({ type: r.type, name: r.name, props: { id: r.id, ...inputsOf(r) } }));
  for (const rule of stackRules) {
    const validate = rule.validateStack as (a: StackValidationArgs, r: ReportViolation) => void;
    validate(stackArgs(all), (m) => out.push(`${rule.name}: ${m}`));
  }
  return out;
}
