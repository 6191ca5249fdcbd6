import test from 'ava';
import { inputsOf, one, ofType, type ProgramRun, runProgram } from './helpers.js';

/**
 * The same checks for either cloud, each cloud in its own test file (a Pulumi program module runs
 * once per process).
 */
export function inputsOnlySuite(cloud: 'aws' | 'gcp') {
  const M = `${cloud.toUpperCase()} composition under Pulumi mocks that return only the inputs (no cloud, no Pulumi CLI here)`;

  let run: ProgramRun;
  test.before(async () => {
    run = await runProgram({ stackFile: `Pulumi.${cloud}-staging.yaml`, stack: `${cloud}-staging`, inputsOnly: true });
  });

  test(`${M}: the program plans completely without any value the cloud computes`, (t) => {
    t.true(run.resources.length > 90);
    t.deepEqual(run.calls, []);
    const text = JSON.stringify(run.resources.map(inputsOf));
    t.false(text.includes('undefined'), 'no property rendered from a missing value');
    t.false(text.includes('[object Object]'));
  });

  test(`${M}: the Flux bridge still carries every bucket and identity`, (t) => {
    const data = inputsOf(one(run, 'kubernetes:core/v1:ConfigMap', 'flux-outputs')).data;
    for (const key of [
      'ROUNDHOUSE_OBJECTS_BUCKET',
      'ROUNDHOUSE_CACHES_BUCKET',
      'ROUNDHOUSE_AUDIT_BUCKET',
      'ROUNDHOUSE_BACKUPS_BUCKET',
    ])
      t.regex(data[key], new RegExp(`-${cloud}-staging-(outputs|caches|audit|backups)$`), key);
    for (const role of ['API', 'CONDUCTOR', 'DISPATCHER', 'OUTPUT', 'VM_SERVICE', 'VELERO', 'NOMAD_AUTOSCALER'])
      t.truthy(data[`ROUNDHOUSE_IDENTITY_${role}`], role);
    t.is(ofType(run, 'kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization').length, 1);
  });
}
