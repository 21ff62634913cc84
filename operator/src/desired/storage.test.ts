import { example, withSpec } from '../../test/cr.js';
import { buildStorage, efsVolumeHandle } from './storage.js';

const byKind = (objs: ReturnType<typeof buildStorage>, kind: string) => objs.find((o) => o.kind === kind) as any;

describe('buildStorage', () => {
  it('nfs: a cluster-scoped PV with the default mount options, pre-bound to the claim', () => {
    // GIVEN the NFS example WHEN built
    const objs = buildStorage(example('nfs', { uid: 'uid-1' }));
    // THEN a PV and a PVC
    expect(objs.map((o) => o.kind)).toEqual(['PersistentVolume', 'PersistentVolumeClaim']);
    const pv = byKind(objs, 'PersistentVolume');
    expect(pv.metadata.name).toBe('srec-privx-prod');
    expect(pv.metadata.namespace).toBeUndefined();
    expect(pv.metadata.ownerReferences).toBeUndefined();
    expect(pv.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'storage', 'recording.privx.io/owner-namespace': 'privx' });
    expect(pv.spec.nfs).toEqual({ server: 'nfs.internal', path: '/exports/privx' });
    expect(pv.spec.mountOptions).toEqual(['nfsvers=4.1', 'hard', 'timeo=600', 'retrans=2', 'noresvport']);
    expect(pv.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(pv.spec.capacity).toEqual({ storage: '100Gi' });
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pv.spec.storageClassName).toBe('');
    expect(pv.spec.claimRef).toEqual({ namespace: 'privx', name: 'prod-share' });
    // AND the claim binds to it by name and is never owned by the CR (Retain must survive GC)
    const pvc = byKind(objs, 'PersistentVolumeClaim');
    expect(pvc.metadata).toMatchObject({ name: 'prod-share', namespace: 'privx' });
    expect(pvc.metadata.ownerReferences).toBeUndefined();
    expect(pvc.spec).toMatchObject({ accessModes: ['ReadWriteMany'], storageClassName: '', volumeName: 'srec-privx-prod', resources: { requests: { storage: '100Gi' } } });
  });

  it('efs static: a CSI PV with volumeHandle fs-id::fsap-id', () => {
    const objs = buildStorage(example('efs'));
    const pv = byKind(objs, 'PersistentVolume');
    expect(pv.spec.csi).toEqual({ driver: 'efs.csi.aws.com', volumeHandle: 'fs-0123abcd::fsap-0123abcd4567ef890' });
    expect(pv.spec.nfs).toBeUndefined();
    expect(pv.spec.capacity).toEqual({ storage: '500Gi' });
    expect(efsVolumeHandle('fs-1234abcd')).toBe('fs-1234abcd');
  });

  it('efs with storageClassName: only a claim on that class, no static PV', () => {
    // GIVEN an EFS spec naming a StorageClass
    const cr = withSpec(example('efs'), (s) => {
      s.storage.efs.storageClassName = 'efs-sc';
    });
    // WHEN built THEN one claim on the class, not pinned to a volume
    const objs = buildStorage(cr);
    expect(objs.map((o) => o.kind)).toEqual(['PersistentVolumeClaim']);
    expect(byKind(objs, 'PersistentVolumeClaim').spec).toMatchObject({ storageClassName: 'efs-sc', accessModes: ['ReadWriteMany'] });
    expect(byKind(objs, 'PersistentVolumeClaim').spec.volumeName).toBeUndefined();
  });

  it('existingClaim: nothing to create', () => {
    expect(buildStorage(example('existing-claim'))).toEqual([]);
  });

  it('custom mount options replace the defaults', () => {
    const pv = byKind(buildStorage(example('nfs-forward')), 'PersistentVolume');
    expect(pv.spec.mountOptions).toEqual(['nfsvers=4.2', 'hard', 'timeo=600', 'retrans=2', 'noresvport']);
    expect(pv.metadata.name).toBe('srec-privx-forward');
  });
});
