import yaml from 'js-yaml';
import type { RecorderConfig } from '../../../common/recorder-config/types.js';
import { validateRecorderConfig } from '../../../common/recorder-config/validate.js';
import { crFromYaml, example, withSpec } from '../../test/cr.js';
import { buildRecorderConfig, renderRecorderYaml, spoolLimit } from './recorder-config.js';

describe('buildRecorderConfig', () => {
  it('writes the documented recorder.yaml shape with the mount paths of the Deployment', () => {
    // GIVEN the NFS example WHEN its recorder config is built
    const cfg = buildRecorderConfig(example('nfs'));
    // THEN every documented field is there
    expect(cfg).toEqual({
      listen: '0.0.0.0:2222',
      probes: '0.0.0.0:9090',
      hostKeyFile: '/etc/srec/hostkey/host_key',
      dataFolder: '/var/privx/audit',
      tempFolder: '/tmp/srec',
      tempSizeLimit: '9216Mi',
      usersFile: '/etc/srec/users/users.yaml',
      hosts: [
        {
          name: 'db-1',
          address: '10.0.0.5',
          port: 22,
          hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0b2V4YW1wbGVob3N0a2V5Zm9yZGJvbmVvbmx5MDE='],
          recording: true,
          fileTransfers: true,
          forwarding: { local: false, remote: false, agent: false, x11: false, unixSockets: false },
          credentials: { usernameFile: '/etc/srec/creds/db-1/username', privateKeyFile: '/etc/srec/creds/db-1/privateKey' },
        },
      ],
      audit: { enabled: false, events: ['stdout', 'stderr', 'channel_request', 'global_request'], bulkData: 'summary', syslog: { address: 'prod-syslog:5514', protocol: 'tcp', format: 'syslog' } },
      retention: { trailExpiryDays: 180, transferredFilesExpiryDays: 180 },
    });
  });

  it('uses passwordFile for a credentials Secret that holds a password and no key', () => {
    const cfg = buildRecorderConfig(example('nfs'), { credentialKeys: new Map([['db-1-login', ['username', 'password']]]) });
    expect(cfg.hosts[0]?.credentials).toEqual({ usernameFile: '/etc/srec/creds/db-1/username', passwordFile: '/etc/srec/creds/db-1/password' });
  });

  it("renders a host's forwarding policy, the kinds the CR leaves out off", () => {
    // GIVEN a CR whose db-1 allows local forwarding and says nothing of the other kinds
    const cr = crFromYaml(
      yaml.dump({
        ...example('nfs'),
        spec: { ...example('nfs').spec, recorder: { ...example('nfs').spec.recorder, hosts: [{ ...example('nfs').spec.recorder.hosts[0], forwarding: { local: true } }] } },
      }),
    );
    // WHEN its recorder config is built
    const host = buildRecorderConfig(cr).hosts[0];
    // THEN local is on, every other kind off, and the file passes the recorder's contract
    expect(host?.forwarding).toEqual({ local: true, remote: false, agent: false, x11: false, unixSockets: false });
    expect(validateRecorderConfig(yaml.load(renderRecorderYaml(buildRecorderConfig(cr))))).toEqual([]);
  });

  it('omits audit.syslog when syslog is disabled', () => {
    const cr = withSpec(example('nfs'), (s) => {
      s.syslog.enabled = false;
    });
    expect(buildRecorderConfig(cr).audit).toEqual({ enabled: false, events: ['stdout', 'stderr', 'channel_request', 'global_request'], bulkData: 'summary' });
  });

  it('passes spec.recorder.workers on, and leaves workers out (sized in the pod) when the CR does', () => {
    // GIVEN the example, which does not set workers THEN recorder.yaml has none
    expect(buildRecorderConfig(example('nfs'))).not.toHaveProperty('workers');
    // GIVEN 3 workers THEN recorder.yaml asks for 3, and the recorder's contract accepts it
    const cfg = buildRecorderConfig(withSpec(example('nfs'), (s) => ((s.recorder as { workers?: number }).workers = 3)));
    expect(cfg.workers).toBe(3);
    expect(validateRecorderConfig(JSON.parse(JSON.stringify(cfg)))).toEqual([]);
  });

  it('leaves the spool 10% headroom below the emptyDir limit', () => {
    expect(spoolLimit('10Gi')).toBe('9216Mi');
    expect(spoolLimit('100Mi')).toBe('90Mi');
    expect(spoolLimit('1Ti')).toBe('943718Mi');
  });

  it('is a file the recorder accepts: the recorder config contract finds nothing to change', () => {
    // GIVEN the rendered recorder.yaml, read back as the recorder reads it
    const doc = yaml.load(renderRecorderYaml(buildRecorderConfig(example('nfs-forward'))));
    // WHEN the contract validates it THEN there is no problem
    expect(validateRecorderConfig(doc)).toEqual([]);
    // AND it has the spec's host, the mounted users and credentials, and the audit routing
    const cfg = doc as RecorderConfig;
    expect(cfg.listen).toBe('0.0.0.0:2222');
    expect(cfg.hosts.map((h) => [h.name, h.address, h.port, h.credentials.usernameFile])).toEqual([['web-1', 'web-1.internal', 22, '/etc/srec/creds/web-1/username']]);
    expect(cfg.usersFile).toBe('/etc/srec/users/users.yaml');
    expect(cfg.audit?.enabled).toBe(true);
    expect(cfg.audit?.syslog).toEqual({ address: 'forward-syslog:5514', protocol: 'tcp', format: 'cef' });
    expect(cfg.audit?.events).toEqual(['stdin', 'stdout', 'stderr', 'channel_request', 'global_request']);
  });
});
