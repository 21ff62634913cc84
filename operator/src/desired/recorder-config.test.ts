import yaml from 'js-yaml';
import ssh2 from 'ssh2';
import { resolveRecorderConfig } from '../../../recorder/src/config.js';
import { example, withSpec } from '../../test/cr.js';
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
          credentials: { usernameFile: '/etc/srec/creds/db-1/username', privateKeyFile: '/etc/srec/creds/db-1/privateKey' },
        },
      ],
      audit: { enabled: false, events: ['stdout', 'stderr', 'channel_request', 'global_request'], syslog: { address: 'prod-syslog:5514', protocol: 'tcp', format: 'syslog' } },
      retention: { trailExpiryDays: 180, transferredFilesExpiryDays: 180 },
    });
  });

  it('uses passwordFile for a credentials Secret that holds a password and no key', () => {
    const cfg = buildRecorderConfig(example('nfs'), { credentialKeys: new Map([['db-1-login', ['username', 'password']]]) });
    expect(cfg.hosts[0]?.credentials).toEqual({ usernameFile: '/etc/srec/creds/db-1/username', passwordFile: '/etc/srec/creds/db-1/password' });
  });

  it('omits audit.syslog when syslog is disabled', () => {
    const cr = withSpec(example('nfs'), (s) => {
      s.syslog.enabled = false;
    });
    expect(buildRecorderConfig(cr).audit).toEqual({ enabled: false, events: ['stdout', 'stderr', 'channel_request', 'global_request'] });
  });

  it('leaves the spool 10% headroom below the emptyDir limit', () => {
    expect(spoolLimit('10Gi')).toBe('9216Mi');
    expect(spoolLimit('100Mi')).toBe('90Mi');
    expect(spoolLimit('1Ti')).toBe('943718Mi');
  });

  it('is a file the recorder loads', () => {
    // GIVEN the rendered recorder.yaml and the files the Secrets provide
    const text = renderRecorderYaml(buildRecorderConfig(example('nfs-forward')));
    const hostKey = ssh2.utils.generateKeyPairSync('ed25519');
    const userKey = ssh2.utils.generateKeyPairSync('ed25519');
    const files: Record<string, string> = {
      '/etc/srec/hostkey/host_key': hostKey.private,
      '/etc/srec/users/users.yaml': yaml.dump([{ name: 'alice', authorizedKeys: [userKey.public] }]),
      '/etc/srec/creds/web-1/username': 'root\n',
      '/etc/srec/creds/web-1/privateKey': hostKey.private,
    };
    const readFile = (p: string) => {
      const f = files[p];
      if (f === undefined) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
      return Buffer.from(f);
    };
    // WHEN the recorder resolves it THEN it has the spec's host, users and audit routing
    const resolved = resolveRecorderConfig(yaml.load(text), { source: 'recorder.yaml', baseDir: '/etc/srec/config', readFile });
    expect(resolved.listen).toBe('0.0.0.0:2222');
    expect(resolved.hosts.map((h) => [h.name, h.address, h.port, h.credentials.username])).toEqual([['web-1', 'web-1.internal', 22, 'root']]);
    expect(resolved.users.map((u) => u.name)).toEqual(['alice']);
    expect(resolved.audit.enabled).toBe(true);
    expect(resolved.audit.syslog).toEqual({ address: 'forward-syslog:5514', protocol: 'tcp', format: 'cef' });
    expect([...resolved.audit.events]).toEqual(['stdin', 'stdout', 'stderr', 'channel_request', 'global_request']);
  });
});
