import { parseMaxStartups, parseNetBlockSize } from './limits.js';
import { recorderConfigSchema } from './schema.js';
import { FORWARDING_KINDS, RECORDER_CONFIG_DEFAULTS, SSH_EVENT_KINDS, type RecorderConfig } from './types.js';
import { isRecorderConfig, validateRecorderConfig, validateUsers } from './validate.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0b2V4YW1wbGVob3N0a2V5Zm9yZGJvbmVvbmx5MDE= db-1';

function valid(): Record<string, unknown> {
  return {
    listen: '0.0.0.0:2222',
    hostKeyFile: '/etc/srec/hostkey/host_key',
    usersFile: '/etc/srec/users/users.yaml',
    hosts: [{ name: 'db-1', address: '10.0.0.5', port: 22, hostKeys: [KEY], forwarding: { local: true }, credentials: { usernameFile: 'u', privateKeyFile: 'k' } }],
    audit: { enabled: true, events: ['stdin', 'stdout'], syslog: { address: 'prod-syslog:5514', protocol: 'tcp', format: 'cef' } },
    retention: { trailExpiryDays: 30, transferredFilesExpiryDays: 7 },
    limits: { loginGraceSeconds: 20, maxStartups: '10:30:100', perSourceMaxStartups: 3, perSourceNetBlockSize: '24:56', maxAuthTries: 3, perSourcePenalties: { authFailureSeconds: 0 } },
  };
}

/** valid() with `change` applied to a copy. */
function withChange(change: (d: Record<string, any>) => void): Record<string, unknown> {
  const d = structuredClone(valid());
  change(d);
  return d;
}

describe('validateRecorderConfig', () => {
  it('accepts the documented shape, inline users instead of usersFile, and null for an optional field', () => {
    // GIVEN the documented shape, one with inline users, one with `listen:` left empty
    const inline = withChange((d) => {
      delete d.usersFile;
      d.users = [{ name: 'alice', authorizedKeys: [KEY], hosts: ['db-1'] }];
    });
    const emptyListen = withChange((d) => (d.listen = null));
    // WHEN they are validated THEN there is nothing to change
    expect(validateRecorderConfig(valid())).toEqual([]);
    expect(validateRecorderConfig(inline)).toEqual([]);
    expect(validateRecorderConfig(emptyListen)).toEqual([]);
    expect(isRecorderConfig(valid())).toBe(true);
  });

  it.each<[string, (d: Record<string, any>) => void, string]>([
    ['an unknown top-level field', (d) => (d.colour = 'blue'), 'colour: unknown field; expected one of listen, probes, hostKeyFile, dataFolder, tempFolder, tempSizeLimit, users, usersFile, hosts, audit, retention, limits, workers, trail'],
    ['a listen address out of range', (d) => (d.listen = 'nope:99999'), 'listen: "nope:99999" is not host:port with a port from 0 to 65535'],
    ['an empty probes address', (d) => (d.probes = ''), 'probes: must be a non-empty string'],
    ['no host key file', (d) => delete d.hostKeyFile, "hostKeyFile: required; the recorder's own SSH host key, e.g. from `ssh-keygen -t ed25519 -N '' -f host_key`"],
    ['a number as dataFolder', (d) => (d.dataFolder = 5), 'dataFolder: must be a non-empty string'],
    ['a size that is not one', (d) => (d.tempSizeLimit = 'lots'), 'tempSizeLimit: "lots" is not a size; write e.g. 10Gi, 500Mi or a number of bytes'],
    ['no worker at all', (d) => (d.workers = 0), 'workers: must be a whole number of worker processes from 1 to 256 (leave it out to size it from the CPU the container may use)'],
    ['half a worker', (d) => (d.workers = 1.5), 'workers: must be a whole number of worker processes from 1 to 256 (leave it out to size it from the CPU the container may use)'],
    ['a negative size', (d) => (d.tempSizeLimit = -1), 'tempSizeLimit: "-1" is not a size; write e.g. 10Gi, 500Mi or a number of bytes'],
    ['neither users nor usersFile', (d) => delete d.usersFile, 'users: no one could connect; set users (a list of {name, authorizedKeys}) or usersFile'],
    ['users that are not a list', (d) => (d.users = 'alice'), 'users: must be a list of {name, authorizedKeys}'],
    ['a person without a name', (d) => (d.users = [{ name: ' ', authorizedKeys: [KEY] }]), "users[0].name: required; the person's name as it appears in recordings and audit events"],
    ['a person without keys', (d) => (d.users = [{ name: 'alice', authorizedKeys: [] }]), 'users[0].authorizedKeys: at least one public key is required, e.g. "ssh-ed25519 AAAA... comment"'],
    ['a key that is not a line', (d) => (d.users = [{ name: 'alice', authorizedKeys: [5] }]), 'users[0].authorizedKeys[0]: must be a public key line like "ssh-ed25519 AAAA... comment"'],
    ["a person's hosts that are not names", (d) => (d.users = [{ name: 'alice', authorizedKeys: [KEY], hosts: ['db-1', 2] }]), 'users[0].hosts: must be a list of host names'],
    ['no hosts', (d) => delete d.hosts, 'hosts: required; a list of {name, address, port, hostKeys, recording, credentials}'],
    ['a host that is not a mapping', (d) => (d.hosts = ['db-1']), 'hosts[0]: must be a mapping {name, address, port, hostKeys, recording, credentials}'],
    ['a host name with a space', (d) => (d.hosts[0].name = 'db 1'), 'hosts[0].name: "db 1" is not a host name people can type after user@ (letters, digits, . _ -)'],
    ['a host without a name', (d) => delete d.hosts[0].name, 'hosts[0].name: "" is not a host name people can type after user@ (letters, digits, . _ -)'],
    ['an empty address', (d) => (d.hosts[0].address = ''), "hosts[0].address: required; the target's IP address or DNS name"],
    ['port 0', (d) => (d.hosts[0].port = 0), 'hosts[0].port: must be a port number from 1 to 65535'],
    ['a fractional port', (d) => (d.hosts[0].port = 22.5), 'hosts[0].port: must be a port number from 1 to 65535'],
    [
      'no pinned host keys',
      (d) => (d.hosts[0].hostKeys = []),
      "hosts[0].hostKeys: at least one pinned host key is required; add the target's public host key, e.g. a line of `ssh-keyscan -t ed25519 10.0.0.5` without the leading host name",
    ],
    ['recording as a word', (d) => (d.hosts[0].recording = 'yes'), 'hosts[0].recording: must be true or false'],
    ['forwarding as a switch', (d) => (d.hosts[0].forwarding = true), 'hosts[0].forwarding: must be a mapping of local, remote, agent, x11, unixSockets to true or false'],
    ['a forwarding kind as a word', (d) => (d.hosts[0].forwarding = { local: 'yes' }), 'hosts[0].forwarding.local: must be true or false'],
    ['a misspelt forwarding kind', (d) => (d.hosts[0].forwarding = { dynamic: true }), 'hosts[0].forwarding.dynamic: unknown field; expected one of local, remote, agent, x11, unixSockets'],
    ['no credentials', (d) => delete d.hosts[0].credentials, 'hosts[0].credentials: required; {username | usernameFile, privateKeyFile | passwordFile} the recorder logs in to the target with'],
    ['credentials as a string', (d) => (d.hosts[0].credentials = 'root'), 'hosts[0].credentials: required; {username | usernameFile, privateKeyFile | passwordFile} the recorder logs in to the target with'],
    ['a key and a password', (d) => (d.hosts[0].credentials.passwordFile = 'p'), 'hosts[0].credentials: set exactly one of privateKeyFile or passwordFile'],
    ['username and usernameFile', (d) => (d.hosts[0].credentials.username = 'root'), 'hosts[0].credentials: set username or usernameFile, not both'],
    ['an empty username', (d) => (d.hosts[0].credentials = { username: '', privateKeyFile: 'k' }), 'hosts[0].credentials.username: must be a non-empty string'],
    ['two hosts of one name', (d) => d.hosts.push({ ...d.hosts[0] }), 'hosts[1].name: "db-1" is used by an earlier host; host names must be unique'],
    ['audit as a list', (d) => (d.audit = ['stdin']), 'audit: must be a mapping {enabled, events, syslog}'],
    ['audit.enabled as a word', (d) => (d.audit.enabled = 'yes'), 'audit.enabled: must be true or false'],
    ['events as a word', (d) => (d.audit.events = 'stdin'), 'audit.events: must be a list drawn from stdin, stdout, stderr, channel_request, global_request'],
    ['unknown events', (d) => (d.audit.events = ['stdout', 'keystrokes', 7]), 'audit.events: "keystrokes", 7 unknown; choose from stdin, stdout, stderr, channel_request, global_request'],
    ['syslog without an address', (d) => (d.audit.syslog = { protocol: 'tcp' }), 'audit.syslog: must be {address: host:port, protocol: tcp|udp, format: syslog|cef}'],
    ['a syslog address without a port', (d) => (d.audit.syslog.address = 'syslog'), 'audit.syslog.address: "syslog" is not host:port with a port from 1 to 65535'],
    ['syslog over http', (d) => (d.audit.syslog.protocol = 'http'), 'audit.syslog.protocol: must be tcp or udp'],
    ['syslog as json', (d) => (d.audit.syslog.format = 'json'), 'audit.syslog.format: must be syslog or cef'],
    ['retention as a number', (d) => (d.retention = 30), 'retention: must be a mapping {trailExpiryDays, transferredFilesExpiryDays}'],
    ['zero days', (d) => (d.retention.trailExpiryDays = 0), 'retention.trailExpiryDays: must be a whole number of days, at least 1'],
    ['half a day', (d) => (d.retention.transferredFilesExpiryDays = 0.5), 'retention.transferredFilesExpiryDays: must be a whole number of days, at least 1'],
    ['limits as a list', (d) => (d.limits = [10]), 'limits: must be a mapping {loginGraceSeconds, maxStartups, perSourceMaxStartups, maxAuthTries, ...}'],
    [
      'a misspelt limit',
      (d) => (d.limits.maxStartup = 10),
      'limits.maxStartup: unknown field; expected one of loginGraceSeconds, maxStartups, perSourceMaxStartups, perSourceNetBlockSize, maxAuthTries, maxSessionsPerConnection, maxChannelsPerConnection, perSourcePenalties',
    ],
    ['no login grace at all', (d) => (d.limits.loginGraceSeconds = 0), 'limits.loginGraceSeconds: must be a whole number of seconds, at least 1'],
    ['a login grace as a duration', (d) => (d.limits.loginGraceSeconds = '20s'), 'limits.loginGraceSeconds: must be a whole number of seconds, at least 1'],
    ...['10:30', '100:30:10', '10:0:100', '10:101:100', 'ten'].map(
      (v): [string, (d: Record<string, any>) => void, string] => [
        `maxStartups ${v}`,
        (d) => (d.limits.maxStartups = v),
        `limits.maxStartups: "${v}" is not start:rate:full (e.g. 10:30:100: from 10 connections not yet logged in, drop 30% of new ones, rising to all at 100) with start <= full and rate 1-100, nor a whole number at least 1`,
      ],
    ),
    [
      'maxStartups 0',
      (d) => (d.limits.maxStartups = 0),
      'limits.maxStartups: "0" is not start:rate:full (e.g. 10:30:100: from 10 connections not yet logged in, drop 30% of new ones, rising to all at 100) with start <= full and rate 1-100, nor a whole number at least 1',
    ],
    ['no logins per source', (d) => (d.limits.perSourceMaxStartups = 0), 'limits.perSourceMaxStartups: must be a whole number, at least 1'],
    [
      'a net block beyond IPv4',
      (d) => (d.limits.perSourceNetBlockSize = '33:128'),
      'limits.perSourceNetBlockSize: "33:128" is not v4:v6 prefix lengths (e.g. 32:128; 24:56 makes each IPv4 /24 and IPv6 /56 one source), v4 0-32 and v6 0-128',
    ],
    ['no authentication tries', (d) => (d.limits.maxAuthTries = 0), 'limits.maxAuthTries: must be a whole number, at least 1'],
    ['half a session', (d) => (d.limits.maxSessionsPerConnection = 0.5), 'limits.maxSessionsPerConnection: must be a whole number, at least 1'],
    ['no channels', (d) => (d.limits.maxChannelsPerConnection = 0), 'limits.maxChannelsPerConnection: must be a whole number, at least 1'],
    ['a negative penalty', (d) => (d.limits.perSourcePenalties.authFailureSeconds = -5), 'limits.perSourcePenalties.authFailureSeconds: must be a whole number of seconds, at least 0 (0: no penalty)'],
    [
      'a misspelt penalty',
      (d) => (d.limits.perSourcePenalties.authfail = 5),
      'limits.perSourcePenalties.authfail: unknown field; expected one of authFailureSeconds, loginGraceExceededSeconds, minSeconds, maxSeconds',
    ],
    [
      'a penalty threshold above the most a source can hold',
      (d) => (d.limits.perSourcePenalties.minSeconds = 700),
      'limits.perSourcePenalties.minSeconds: 700 is more than maxSeconds (600), so no source would ever be refused; make it at most maxSeconds',
    ],
  ])('names the field and what to change for %s', (_what, change, problem) => {
    // GIVEN the documented shape with one mistake WHEN it is validated THEN that one problem is reported
    expect(validateRecorderConfig(withChange(change))).toEqual([problem]);
  });

  it('gathers every problem of a document at once', () => {
    // GIVEN a document with three mistakes in three places
    const doc = withChange((d) => {
      d.listen = 'x:';
      d.hosts[0].port = 70000;
      d.audit.enabled = 1;
    });
    // WHEN it is validated THEN each is reported with its field path
    expect(validateRecorderConfig(doc)).toEqual([
      'listen: "x:" is not host:port with a port from 0 to 65535',
      'hosts[0].port: must be a port number from 1 to 65535',
      'audit.enabled: must be true or false',
    ]);
  });

  it('shows where the address goes in the ssh-keyscan hint for a host without keys or address', () => {
    const doc = withChange((d) => {
      delete d.hosts[0].hostKeys;
      delete d.hosts[0].address;
    });
    expect(validateRecorderConfig(doc)).toEqual([
      "hosts[0].address: required; the target's IP address or DNS name",
      "hosts[0].hostKeys: at least one pinned host key is required; add the target's public host key, e.g. a line of `ssh-keyscan -t ed25519 <address>` without the leading host name",
    ]);
  });

  it('says a document that is not a mapping is not one, and nothing else', () => {
    for (const doc of [undefined, null, 'listen: x', [1, 2]]) {
      expect(validateRecorderConfig(doc)).toEqual(['the file must be a YAML mapping (listen, hostKeyFile, dataFolder, users, hosts, ...)']);
    }
  });

  it('accepts what the TypeScript type describes, with its defaults written out', () => {
    // GIVEN a RecorderConfig with every optional field set to its documented default
    const D = RECORDER_CONFIG_DEFAULTS;
    const config: RecorderConfig = {
      listen: D.listen,
      probes: D.probes,
      hostKeyFile: 'host_key',
      dataFolder: D.dataFolder,
      tempFolder: D.tempFolder,
      tempSizeLimit: '10Gi',
      users: [{ name: 'alice', authorizedKeys: [KEY] }],
      hosts: [{ name: 'db-1', address: 'db-1.internal', port: D.port, hostKeys: [KEY], recording: D.recording, fileTransfers: D.fileTransfers, forwarding: { ...D.forwarding }, credentials: { username: 'root', passwordFile: 'p' } }],
      audit: { enabled: D.auditEnabled, events: [...D.auditEvents], syslog: { address: '[fd00::5]:5514', protocol: D.syslogProtocol, format: D.syslogFormat } },
      retention: { trailExpiryDays: D.trailExpiryDays, transferredFilesExpiryDays: D.transferredFilesExpiryDays },
      limits: { ...D.limits, perSourcePenalties: { ...D.limits.perSourcePenalties } },
    };
    // WHEN it is validated THEN it passes, and the schema's events are the contract's
    expect(validateRecorderConfig(config)).toEqual([]);
    expect(recorderConfigSchema.properties.audit.properties.events.items.enum).toEqual([...SSH_EVENT_KINDS]);
    // AND every kind of forwarding is off by default, in the defaults and the schema alike
    expect(D.forwarding).toEqual({ local: false, remote: false, agent: false, x11: false, unixSockets: false });
    expect(Object.keys(recorderConfigSchema.properties.hosts.items.properties.forwarding.properties)).toEqual([...FORWARDING_KINDS]);
  });
});

describe('limits as text', () => {
  it('reads maxStartups as OpenSSH does: start:rate:full, or N for N:100:N', () => {
    expect(parseMaxStartups('10:30:100')).toEqual({ start: 10, rate: 30, full: 100 });
    expect(parseMaxStartups(64)).toEqual({ start: 64, rate: 100, full: 64 });
    expect(parseMaxStartups('5:100:5')).toEqual({ start: 5, rate: 100, full: 5 });
    for (const bad of ['10:30', '10:30:5', '1:0:2', ' 10', '', null, -1]) expect(parseMaxStartups(bad)).toBeUndefined();
  });

  it('reads perSourceNetBlockSize as v4:v6, or N for N:128', () => {
    expect(parseNetBlockSize('32:128')).toEqual({ v4: 32, v6: 128 });
    expect(parseNetBlockSize(24)).toEqual({ v4: 24, v6: 128 });
    expect(parseNetBlockSize('0:0')).toEqual({ v4: 0, v6: 0 });
    for (const bad of ['33', '32:129', '/24', 'x']) expect(parseNetBlockSize(bad)).toBeUndefined();
  });
});

describe('validateUsers', () => {
  it("reports a usersFile's problems under the file's name", () => {
    // GIVEN a users file with a good person, a nameless one and something that is not a person
    const list = [{ name: 'bob', authorizedKeys: [KEY] }, { authorizedKeys: [KEY] }, 'carol'];
    // WHEN it is validated under the name the loader gives it
    const problems = validateUsers(list, 'usersFile(/etc/srec/users/users.yaml)');
    // THEN each problem names the file and the entry
    expect(problems).toEqual([
      "usersFile(/etc/srec/users/users.yaml)[1].name: required; the person's name as it appears in recordings and audit events",
      'usersFile(/etc/srec/users/users.yaml)[2]: must be a mapping {name, authorizedKeys}',
    ]);
    expect(validateUsers({ users: [] }, 'usersFile(u.yaml)')).toEqual(['usersFile(u.yaml): must be a list of {name, authorizedKeys}']);
    expect(validateUsers([], 'usersFile(u.yaml)')).toEqual([]);
  });
});
