/**
 * The bridge from Pulumi to GitOps. Installs Flux's controllers, points a GitRepository at this repository
 * and a Kustomization at `charts-ts/dist/<environment>`, and hands the stack's outputs to Flux:
 * a ConfigMap (bucket names, identities, endpoints) and a Secret (Nomad TLS material, database URL) that
 * the Kustomization substitutes into the rendered manifests (`${VAR}` in charts-ts output). Secrets so
 * never land in Git.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

export interface FluxBootstrapArgs {
  readonly environment: string;
  readonly gitUrl: string;
  readonly gitBranch: string;
  readonly gitSecretName?: string;
  readonly chartVersion: string;
  /** Non-secret values Flux substitutes (ConfigMap). Keys are `[A-Z_][A-Z0-9_]*`. */
  readonly outputs: Record<string, pulumi.Input<string>>;
  /** Secret values Flux substitutes (Secret). */
  readonly secrets: Record<string, pulumi.Input<string>>;
}

export const FLUX_NAMESPACE = 'flux-system';
export const FLUX_CHART_REPOSITORY = 'https://fluxcd-community.github.io/helm-charts';
export const STACK_OUTPUTS_CONFIGMAP = 'roundhouse-stack-outputs';
export const STACK_SECRETS_SECRET = 'roundhouse-stack-secrets';
export const SOURCE_NAME = 'roundhouse';
export const distPath = (environment: string) => `./charts-ts/dist/${environment}`;

const VAR_NAME = /^[_A-Z][_A-Z0-9]*$/;

export class FluxBootstrap extends pulumi.ComponentResource {
  readonly kustomizationPath: string;

  constructor(name: string, args: FluxBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super('roundhouse:k8s:FluxBootstrap', name, {}, opts);
    for (const key of [...Object.keys(args.outputs), ...Object.keys(args.secrets)])
      if (!VAR_NAME.test(key))
        throw new Error(`FluxBootstrap: ${key} is not a substitution variable name (${VAR_NAME})`);
    const parent = { parent: this };
    const labels = { 'app.kubernetes.io/managed-by': 'pulumi', 'roundhouse.dev/environment': args.environment };

    const ns = new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: FLUX_NAMESPACE, labels } }, parent);
    const meta = (objectName: string) => ({ name: objectName, namespace: FLUX_NAMESPACE, labels });

    const controllers = new k8s.helm.v3.Release(
      `${name}-controllers`,
      {
        name: 'flux',
        chart: 'flux2',
        version: args.chartVersion,
        namespace: FLUX_NAMESPACE,
        repositoryOpts: { repo: FLUX_CHART_REPOSITORY },
        // Image automation writes to Git; in Roundhouse only pull requests do.
        values: {
          imageAutomationController: { create: false },
          imageReflectionController: { create: false },
        },
        atomic: true,
      },
      { ...parent, dependsOn: [ns] },
    );

    const outputs = new k8s.core.v1.ConfigMap(
      `${name}-outputs`,
      { metadata: meta(STACK_OUTPUTS_CONFIGMAP), data: args.outputs },
      { ...parent, dependsOn: [ns] },
    );
    const secrets = new k8s.core.v1.Secret(
      `${name}-secrets`,
      { metadata: meta(STACK_SECRETS_SECRET), type: 'Opaque', stringData: args.secrets },
      { ...parent, dependsOn: [ns] },
    );

    this.kustomizationPath = distPath(args.environment);
    const source = new k8s.apiextensions.CustomResource(
      `${name}-source`,
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'GitRepository',
        metadata: meta(SOURCE_NAME),
        spec: {
          interval: '1m0s',
          url: args.gitUrl,
          ref: { branch: args.gitBranch },
          ...(args.gitSecretName ? { secretRef: { name: args.gitSecretName } } : {}),
          // Only this environment's rendered manifests trigger a reconciliation.
          ignore: `/*\n!${this.kustomizationPath.slice(1)}/\n`,
        },
      },
      { ...parent, dependsOn: [controllers] },
    );

    new k8s.apiextensions.CustomResource(
      `${name}-kustomization`,
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: meta(`roundhouse-${args.environment}`),
        spec: {
          interval: '10m0s',
          path: this.kustomizationPath,
          prune: true,
          wait: true,
          timeout: '5m0s',
          retryInterval: '2m0s',
          sourceRef: { kind: 'GitRepository', name: SOURCE_NAME },
          postBuild: {
            substituteFrom: [
              { kind: 'ConfigMap', name: STACK_OUTPUTS_CONFIGMAP },
              { kind: 'Secret', name: STACK_SECRETS_SECRET },
            ],
          },
        },
      },
      { ...parent, dependsOn: [source, outputs, secrets] },
    );

    this.registerOutputs({ kustomizationPath: this.kustomizationPath });
  }
}

/** A kubeconfig whose user runs a credential plugin (aws eks get-token / gke-gcloud-auth-plugin). */
export function execKubeconfig(args: {
  name: string;
  endpoint: pulumi.Input<string>;
  caData: pulumi.Input<string>;
  command: string;
  commandArgs: string[];
}): pulumi.Output<string> {
  return pulumi.all([args.endpoint, args.caData]).apply(([endpoint, caData]) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: args.name, cluster: { server: endpoint, 'certificate-authority-data': caData } }],
      contexts: [{ name: args.name, context: { cluster: args.name, user: args.name } }],
      'current-context': args.name,
      users: [
        {
          name: args.name,
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: args.command,
              args: args.commandArgs,
              interactiveMode: 'Never',
            },
          },
        },
      ],
    }),
  );
}
