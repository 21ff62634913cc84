import { DESIRED_HASH_ANNOTATION, type KubeObject } from '../desired/meta.js';
import { objectPath, RESOURCES, resourceOf } from './client.js';
import { slimObject, stripSecret, withoutManagedFields } from './transforms.js';

const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'prod-recorder',
    namespace: 'ns',
    uid: 'u1',
    resourceVersion: '42',
    generation: 3,
    labels: { 'app.kubernetes.io/instance': 'prod' },
    annotations: { [DESIRED_HASH_ANNOTATION]: 'abc', 'deployment.kubernetes.io/revision': '2' },
    ownerReferences: [{ uid: 'cr', controller: true }],
    managedFields: [{ manager: 'srec-operator', fieldsV1: { 'f:spec': {} } }],
  },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'recorder', image: 'x' }] } } },
  status: { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available' }] },
};

function withoutKeys<T extends object>(o: T, ...keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as Partial<T>;
}

describe('slimObject', () => {
  it('keeps what the controller reads of a Deployment and nothing else', () => {
    // GIVEN a Deployment as the API server sends it WHEN the cache slims it
    const slim = slimObject(deployment);
    // THEN identity, labels, owners, the desired hash, replicas and rollout status remain
    expect(slim).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      // the metadata less managedFields and the annotations srec does not own
      metadata: { ...withoutKeys(deployment.metadata, 'managedFields'), annotations: { [DESIRED_HASH_ANNOTATION]: 'abc' } },
      spec: { replicas: 2 },
      status: { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 },
    });
  });

  it('keeps a claim phase and access modes, and omits what an object lacks', () => {
    // GIVEN a claim without annotations or owners
    const pvc: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'prod-share', namespace: 'ns', uid: 'u2', resourceVersion: '7' },
      spec: { accessModes: ['ReadWriteMany'], volumeName: 'pv', resources: { requests: { storage: '1Gi' } } },
      status: { phase: 'Bound', accessModes: ['ReadWriteMany'], capacity: { storage: '1Gi' } },
    };
    // WHEN slimmed THEN only the fields the claim checks read are left, and no empty annotations
    expect(slimObject(pvc)).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'prod-share', namespace: 'ns', uid: 'u2', resourceVersion: '7' },
      spec: { accessModes: ['ReadWriteMany'] },
      status: { phase: 'Bound', accessModes: ['ReadWriteMany'] },
    });
  });
});

describe('stripSecret', () => {
  it('keeps the key names, never the data', () => {
    const s = stripSecret({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'ns' }, data: { username: 'cm9vdA==', password: 'eA==' } });
    expect(s).toMatchObject({ metadata: { name: 'db', namespace: 'ns' }, keys: ['username', 'password'] });
    expect(JSON.stringify(s)).not.toContain('cm9vdA==');
  });
});

describe('withoutManagedFields', () => {
  it('drops managedFields and keeps everything else', () => {
    const cr = withoutManagedFields({ ...deployment, kind: 'SessionRecording' });
    expect(cr.metadata.managedFields).toBeUndefined();
    expect(cr.metadata.annotations).toEqual(deployment.metadata.annotations);
    expect(cr.spec).toBe(deployment.spec);
  });
});

describe('resourceOf and objectPath', () => {
  it('finds the URL of each kind the operator writes', () => {
    expect(objectPath(resourceOf(deployment), 'prod-recorder', 'ns')).toBe('/apis/apps/v1/namespaces/ns/deployments/prod-recorder');
    expect(objectPath(RESOURCES.pv, 'srec-ns-prod', 'ignored')).toBe('/api/v1/persistentvolumes/srec-ns-prod');
  });

  it('names a kind it does not know', () => {
    expect(() => resourceOf({ apiVersion: 'batch/v1', kind: 'Job' })).toThrow('batch/v1 Job is not a kind this operator writes');
  });
});
