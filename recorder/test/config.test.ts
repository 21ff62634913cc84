import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { ConfigError, loadRecorderConfig, parseQuantity } from '../src/config.js';
import { makeKey } from './support/index.js';

/** The limits a file without `limits` gets: OpenSSH's defaults where it has one (sshd_config(5)). */
const OPENSSH_LIKE_LIMITS = {
  loginGraceMs: 30000,
  maxStartups: { start: 10, rate: 30, full: 100 },
  perSourceMaxStartups: 5,
  perSourceNetBlockSize: { v4: 32, v6: 128 },
  maxAuthTries: 6,
  maxSessionsPerConnection: 10,
  maxChannelsPerConnection: 100,
  perSourcePenalties: { authFailureSeconds: 5, loginGraceExceededSeconds: 10, minSeconds: 15, maxSeconds: 600 },
};

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
let hostKeyLine: string;
let userKeyLine: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'srec-config-'));
  await makeKey(dir, 'host_key');
  await makeKey(dir, 'db-1-key');
  hostKeyLine = (await makeKey(dir, 'target-host-key')).publicLine;
  userKeyLine = (await makeKey(dir, 'alice')).publicLine;
  await fsp.writeFile(path.join(dir, 'username'), 'root\n');
});

async function write(name: string, doc: unknown): Promise<string> {
  const file = path.join(dir, name);
  await fsp.writeFile(file, typeof doc === 'string' ? doc : yaml.dump(doc));
  return file;
}

function validDoc(): Record<string, unknown> {
  return {
    listen: '127.0.0.1:2222',
    hostKeyFile: 'host_key',
    dataFolder: '/var/privx/audit',
    tempFolder: '/tmp/srec',
    users: [{ name: 'alice', authorizedKeys: [userKeyLine] }],
    hosts: [
      {
        name: 'db-1',
        address: '10.0.0.5',
        hostKeys: [hostKeyLine],
        credentials: { usernameFile: 'username', privateKeyFile: 'db-1-key' },
      },
    ],
  };
}

function problemsOf(file: string): readonly string[] {
  try {
    loadRecorderConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message.startsWith(file)).toBe(true);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadRecorderConfig', () => {
  it('reads the file and the files it names, with the documented defaults', async () => {
    // GIVEN the documented shape with relative paths
    const file = await write('ok.yaml', validDoc());
    // WHEN it is loaded
    const c = loadRecorderConfig(file);
    // THEN defaults are applied and the named files are read
    expect(c).toMatchObject({ listen: '127.0.0.1:2222', probes: '0.0.0.0:9090', dataFolder: '/var/privx/audit', tempFolder: '/tmp/srec' });
    expect(c.tempSizeLimit).toBeUndefined();
    expect(c.hosts[0]).toMatchObject({ name: 'db-1', port: 22, recording: true, fileTransfers: false, credentials: { username: 'root' } });
    expect(c.hosts[0]!.forwarding).toEqual({ local: false, remote: false, agent: false, x11: false, unixSockets: false });
    expect(c.hosts[0]!.credentials.privateKey?.toString()).toContain('PRIVATE KEY');
    expect(c.hosts[0]!.hostKeys[0]!.type).toBe('ssh-ed25519');
    expect(c.users.map((u) => u.name)).toEqual(['alice']);
    expect(c.audit.enabled).toBe(false);
    expect([...c.audit.events]).toEqual(['stdout', 'stderr', 'channel_request', 'global_request']);
    expect(c.retention).toEqual({ trailExpiryDays: 180, transferredFilesExpiryDays: 180 });
    expect(c.hostKey.toString()).toContain('PRIVATE KEY');
    expect(c.limits).toEqual(OPENSSH_LIKE_LIMITS);
  });

  it('takes the limits the file sets and the defaults of the ones it leaves out', async () => {
    // GIVEN limits with some keys set, a single-number maxStartups and a penalty turned off
    const file = await write('limits.yaml', {
      ...validDoc(),
      limits: { loginGraceSeconds: 10, maxStartups: 20, perSourceNetBlockSize: '24:56', maxSessionsPerConnection: 2, perSourcePenalties: { authFailureSeconds: 0 } },
    });
    // WHEN it is loaded THEN those are taken and the others default
    expect(loadRecorderConfig(file).limits).toEqual({
      ...OPENSSH_LIKE_LIMITS,
      loginGraceMs: 10000,
      maxStartups: { start: 20, rate: 100, full: 20 },
      perSourceNetBlockSize: { v4: 24, v6: 56 },
      maxSessionsPerConnection: 2,
      perSourcePenalties: { ...OPENSSH_LIKE_LIMITS.perSourcePenalties, authFailureSeconds: 0 },
    });
    // ... and a bad limit is one of the file's problems, by its field path
    const bad = await write('bad-limits.yaml', { ...validDoc(), limits: { maxStartups: '30:10' } });
    expect(problemsOf(bad)).toEqual([
      'limits.maxStartups: "30:10" is not start:rate:full (e.g. 10:30:100: from 10 connections not yet logged in, drop 30% of new ones, rising to all at 100) with start <= full and rate 1-100, nor a whole number at least 1',
    ]);
  });

  it('turns on only the kinds of forwarding a host names, and rejects a misspelt kind', async () => {
    // GIVEN a host that allows local forwarding, and one with a kind that does not exist
    const doc = validDoc();
    const host = (doc.hosts as Record<string, unknown>[])[0]!;
    const file = await write('forwarding.yaml', { ...doc, hosts: [{ ...host, forwarding: { local: true, agent: false } }] });
    const bad = await write('forwarding-bad.yaml', { ...doc, hosts: [{ ...host, forwarding: { dynamic: true } }] });
    // WHEN they are loaded THEN local is on and every other kind off; the misspelt one is named
    expect(loadRecorderConfig(file).hosts[0]!.forwarding).toEqual({ local: true, remote: false, agent: false, x11: false, unixSockets: false });
    expect(problemsOf(bad)).toEqual(['hosts[0].forwarding.dynamic: unknown field; expected one of local, remote, agent, x11, unixSockets']);
  });

  it('loads trail.keysDir, and names what is wrong with a key set the recorder cannot use', async () => {
    // GIVEN a key set, an empty directory, and a directory with only the public key
    const { initKeySet } = await import('../src/trail/crypto/keys.js');
    initKeySet(path.join(dir, 'trail-keys'));
    await fsp.mkdir(path.join(dir, 'no-keys'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'pub-only'), { recursive: true });
    await fsp.copyFile(path.join(dir, 'trail-keys', 'signing.pub'), path.join(dir, 'pub-only', 'signing.pub'));
    const ok = await write('trail.yaml', { ...validDoc(), trail: { keysDir: 'trail-keys' } });
    // WHEN loaded THEN the keys are there, relative to the config file
    const c = loadRecorderConfig(ok);
    expect(c.trail?.keysDir).toBe(path.join(dir, 'trail-keys'));
    expect(c.trail?.keys.keks).toHaveLength(1);
    expect(c.trail?.keys.signingKey?.asymmetricKeyType).toBe('ed25519');
    // AND a directory without keys, or with the public key only, is named with what to do
    expect(problemsOf(await write('trail-none.yaml', { ...validDoc(), trail: { keysDir: 'no-keys' } }))).toEqual([
      `trail.keysDir: ${path.join(dir, 'no-keys')}: no encryption.json, signing.key or signing.pub; make a key set with srec keys init ${path.join(dir, 'no-keys')}`,
    ]);
    expect(problemsOf(await write('trail-pub.yaml', { ...validDoc(), trail: { keysDir: 'pub-only' } }))).toEqual([
      'trail.keysDir: "pub-only" holds only signing.pub; the recorder needs encryption.json and/or signing.key (srec keys init)',
    ]);
    expect(problemsOf(await write('trail-typo.yaml', { ...validDoc(), trail: { keyDir: 'x' } }))[0]).toMatch(/^trail/);
  });

  it('reads people from usersFile, as a list or as {users: [...]}', async () => {
    await write('users-list.yaml', [{ name: 'bob', authorizedKeys: [userKeyLine] }]);
    await write('users-map.yaml', { users: [{ name: 'carol', authorizedKeys: [userKeyLine] }] });
    const a = loadRecorderConfig(await write('uf1.yaml', { ...validDoc(), users: undefined, usersFile: 'users-list.yaml' }));
    const b = loadRecorderConfig(await write('uf2.yaml', { ...validDoc(), usersFile: 'users-map.yaml' }));
    expect(a.users.map((u) => u.name)).toEqual(['bob']);
    expect(b.users.map((u) => u.name)).toEqual(['alice', 'carol']);
  });

  it('names the field and what to do for a host without pinned keys', async () => {
    const doc = validDoc();
    (doc.hosts as Record<string, unknown>[])[0]!.hostKeys = [];
    expect(problemsOf(await write('nokeys.yaml', doc))).toEqual([
      'hosts[0].hostKeys: at least one pinned host key is required; add the target\'s public host key, e.g. a line of `ssh-keyscan -t ed25519 10.0.0.5` without the leading host name',
    ]);
  });

  it('gathers every problem at once, each with its field path', async () => {
    // GIVEN a file with several mistakes
    const doc = {
      ...validDoc(),
      listen: 'nope:99999',
      tempSizeLimit: 'lots',
      colour: 'blue',
      users: [{ name: '', authorizedKeys: ['ssh-ed25519 not-base64!'] }],
      hosts: [
        { name: 'db 1', address: '', port: 0, hostKeys: [hostKeyLine], credentials: { username: 'root', privateKeyFile: 'missing-key' } },
        { name: 'db-2', address: 'x', hostKeys: [hostKeyLine], credentials: { username: 'root' } },
      ],
      audit: { enabled: 'yes', events: ['stdout', 'keystrokes'] },
    };
    // WHEN it is loaded
    const problems = problemsOf(await write('bad.yaml', doc));
    // THEN each problem names its field
    expect(problems).toEqual(
      expect.arrayContaining([
        'colour: unknown field; expected one of listen, probes, hostKeyFile, dataFolder, tempFolder, tempSizeLimit, users, usersFile, hosts, audit, retention, limits, workers, trail',
        'listen: "nope:99999" is not host:port with a port from 0 to 65535',
        'tempSizeLimit: "lots" is not a size; write e.g. 10Gi, 500Mi or a number of bytes',
        "users[0].name: required; the person's name as it appears in recordings and audit events",
        expect.stringMatching(/^users\[0\]\.authorizedKeys\[0\]: "ssh-ed25519 not-base64!\.\.\." is not a public key line/),
        'hosts[0].name: "db 1" is not a host name people can type after user@ (letters, digits, . _ -)',
        "hosts[0].address: required; the target's IP address or DNS name",
        'hosts[0].port: must be a port number from 1 to 65535',
        expect.stringMatching(/^hosts\[0\]\.credentials\.privateKeyFile: cannot read the private key "missing-key": ENOENT/),
        'hosts[1].credentials: set exactly one of privateKeyFile or passwordFile',
        'audit.enabled: must be true or false',
        'audit.events: "keystrokes" unknown; choose from stdin, stdout, stderr, channel_request, global_request',
      ]),
    );
    expect(problems).toHaveLength(12);
  });

  it('says what is wrong with an unreadable file, bad YAML and a missing host key file', async () => {
    expect(problemsOf(path.join(dir, 'absent.yaml'))[0]).toMatch(/^cannot read the configuration file: ENOENT/);
    expect(problemsOf(await write('notyaml.yaml', 'listen: [unclosed'))[0]).toMatch(/^not valid YAML: /);
    const noHostKey = problemsOf(await write('nohk.yaml', { ...validDoc(), hostKeyFile: undefined }));
    expect(noHostKey).toEqual(["hostKeyFile: required; the recorder's own SSH host key, e.g. from `ssh-keygen -t ed25519 -N '' -f host_key`"]);
    const pub = problemsOf(await write('pubhk.yaml', { ...validDoc(), hostKeyFile: 'alice.pub' }));
    expect(pub[0]).toMatch(/^hostKeyFile: "alice.pub" is not an unencrypted OpenSSH\/PEM private key/);
  });
});

describe('parseQuantity', () => {
  it('reads Kubernetes quantities as bytes', () => {
    expect(parseQuantity('10Gi')).toBe(10 * 2 ** 30);
    expect(parseQuantity('500M')).toBe(500e6);
    expect(parseQuantity('1024')).toBe(1024);
    expect(parseQuantity('ten')).toBeUndefined();
  });
});

describe('srec recorder --config', () => {
  it('exits 2 with the problems on stderr when the config is invalid', async () => {
    // GIVEN an invalid config file
    const doc = validDoc();
    (doc.hosts as Record<string, unknown>[])[0]!.hostKeys = [];
    const file = await write('cli-bad.yaml', doc);
    // WHEN the recorder is started with it
    const r = spawnSync(process.execPath, ['--import', path.join(here, '../../testing/ts-register.mjs'), path.join(here, 'support/srec-main.ts'), 'recorder', '--config', file], {
      encoding: 'utf8',
      timeout: 20000,
    });
    // THEN it says why and does not start
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`srec recorder: ${file}: hosts[0].hostKeys: at least one pinned host key is required`);
  });
});
