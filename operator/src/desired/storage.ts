// The share: for nfs a static PV + a claim bound to it; for efs a static CSI PV + claim, or a claim on a
// StorageClass; for existingClaim nothing. The claim never has an owner reference: with deletionPolicy
// Retain the garbage collector must not take it with the SessionRecording (the finalizer decides).
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-34';
import type { Construct } from 'constructs';
import { type SessionRecording, storageKind } from '../api/types.js';
import { childNames, type KubeObject, labels, namespaceOf, OWNER_NAMESPACE_LABEL, toSize } from './meta.js';

export const EFS_CSI_DRIVER = 'efs.csi.aws.com';

/** `fs-id` or `fs-id::fsap-id`, as the EFS CSI driver wants its volumeHandle. */
export function efsVolumeHandle(fileSystemId: string, accessPointId?: string): string {
  return accessPointId ? `${fileSystemId}::${accessPointId}` : fileSystemId;
}

type ShareSource = { readonly nfs: { server: string; path: string } } | { readonly csi: { driver: string; volumeHandle: string } };

interface SharePersistentVolumeProps extends kplus.PersistentVolumeProps {
  readonly source: ShareSource;
  readonly claimRef: { readonly namespace: string; readonly name: string };
}

/** cdk8s-plus has no NFS or CSI PersistentVolume; this one adds the source and a namespaced claimRef. */
class SharePersistentVolume extends kplus.PersistentVolume {
  private readonly source: ShareSource;
  private readonly claimRef: { readonly namespace: string; readonly name: string };
  constructor(scope: Construct, id: string, props: SharePersistentVolumeProps) {
    super(scope, id, props);
    this.source = props.source;
    this.claimRef = props.claimRef;
  }
  override _toKube(): kplus.k8s.PersistentVolumeSpec {
    // Pre-binding both ways (claimRef + volumeName) keeps any other claim from taking this volume.
    return { ...super._toKube(), ...this.source, claimRef: { ...this.claimRef } };
  }
}

/** The PV (if any) and the PVC (if any) for the share. */
export function buildStorage(cr: SessionRecording): KubeObject[] {
  const s = cr.spec.storage;
  const kind = storageKind(s);
  if (kind === 'existingClaim') return [];

  const names = childNames(cr);
  const ns = namespaceOf(cr);
  const app = new App();
  const size = toSize(s.size);
  const rwx = [kplus.PersistentVolumeAccessMode.READ_WRITE_MANY];
  const dynamicClass = s.efs?.storageClassName ? s.efs.storageClassName : undefined;

  if (!dynamicClass) {
    const clusterChart = new Chart(app, 'cluster');
    new SharePersistentVolume(clusterChart, 'pv', {
      metadata: { name: names.pv, labels: { ...labels(cr, 'storage'), [OWNER_NAMESPACE_LABEL]: ns } },
      storage: size,
      accessModes: rwx,
      // The volume outlives its claim: recordings are evidence. deletionPolicy Delete removes the objects.
      reclaimPolicy: kplus.PersistentVolumeReclaimPolicy.RETAIN,
      storageClassName: '',
      mountOptions: s.nfs ? [...s.nfs.mountOptions] : undefined,
      source: s.nfs
        ? { nfs: { server: s.nfs.server, path: s.nfs.path } }
        : { csi: { driver: EFS_CSI_DRIVER, volumeHandle: efsVolumeHandle(s.efs?.fileSystemId ?? '', s.efs?.accessPointId) } },
      claimRef: { namespace: ns, name: names.pvc },
    });
  }
  const chart = new Chart(app, 'ns', { namespace: ns });
  new kplus.PersistentVolumeClaim(chart, 'pvc', {
    metadata: { name: names.pvc, labels: labels(cr, 'storage') },
    storage: size,
    accessModes: rwx,
    storageClassName: dynamicClass ?? '',
    volume: dynamicClass ? undefined : kplus.PersistentVolume.fromPersistentVolumeName(chart, 'pv', names.pv),
  });
  return app.charts.flatMap((c) => c.toJson() as KubeObject[]);
}
