import { example, IMAGES, withSpec } from '../../test/cr.js';
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

describe('renderObjects with spec.podSecurity.fixedUid=false', () => {
  it('sets no runAsUser, runAsGroup or fsGroup in any pod, and keeps runAsNonRoot', () => {
    // GIVEN a SessionRecording for a platform that assigns uids (OpenShift restricted-v2)
    const cr = withSpec(example('nfs'), (s) => (s.podSecurity = { fixedUid: false }));
    // WHEN its children are rendered
    const pods = (renderObjects(cr, { images: IMAGES }) as any[]).filter((o) => o.kind === 'Deployment').map((o) => o.spec.template.spec);
    // THEN no fixed id is left, and the pods still refuse to run as root
    expect(pods).toHaveLength(2);
    for (const pod of pods) {
      expect(JSON.stringify(pod)).not.toMatch(/runAsUser|runAsGroup|fsGroup"/);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      for (const c of pod.containers) expect(c.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false });
    }
    // AND by default they run as the image's user
    const fixed = (renderObjects(example('nfs'), { images: IMAGES }) as any[]).find((o) => o.kind === 'Deployment');
    expect(fixed.spec.template.spec.securityContext).toMatchObject({ runAsUser: 65532, fsGroup: 65532 });
  });
});
