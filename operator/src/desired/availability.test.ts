import { example, IMAGES } from '../../test/cr.js';
import { buildRecorderPdb, recorderScheduling } from './availability.js';
import { renderObjects } from './index.js';

describe('buildRecorderPdb', () => {
  it('lets one recorder go at a time, always lets an unhealthy one go, and is owned by the CR', () => {
    // GIVEN a SessionRecording with a uid, WHEN its budget is built
    const pdb = buildRecorderPdb(example('nfs', { uid: 'uid-1' })) as any;
    // THEN it selects exactly the recorder pods
    expect(pdb).toMatchObject({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'prod-recorder', namespace: 'privx' } });
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
      selector: { matchLabels: { 'app.kubernetes.io/name': 'srec', 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'recorder' } },
    });
    expect(pdb.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SessionRecording', uid: 'uid-1', controller: true })]);
  });
});

describe('renderObjects', () => {
  const objs = renderObjects(example('nfs', { uid: 'uid-1' }), { images: IMAGES }) as any[];
  const recorder = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'prod-recorder');

  it('includes the recorder budget, with its desired hash', () => {
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget');
    expect(pdb.metadata.name).toBe('prod-recorder');
    expect(pdb.metadata.annotations['recording.privx.io/desired-hash']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('prefers one recorder per node and spreads them over zones', () => {
    expect(recorder.spec.template.spec.affinity).toEqual(recorderScheduling(example('nfs')).affinity);
    expect(recorder.spec.template.spec.topologySpreadConstraints).toEqual([
      expect.objectContaining({ topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', maxSkew: 1 }),
    ]);
  });

  it("puts no cdk8s bookkeeping label (cdk8s.io/metadata.addr) on any pod or selector", () => {
    for (const o of objs) {
      expect(JSON.stringify(o)).not.toContain('cdk8s.io/metadata.addr');
    }
  });
});
