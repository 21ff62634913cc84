import { streamTransferOf } from './stream-command.js';

describe('streamTransferOf', () => {
  it.each([
    ['rsync --server -logDtpre.iLsfxCIvu . /srv/dst', { protocol: 'rsync', direction: 'upload' }],
    ['rsync --server --sender -logDtpre.iLsfxCIvu . /srv/src', { protocol: 'rsync', direction: 'download' }],
    ["git-upload-pack '/srv/repo.git'", { protocol: 'git', direction: 'download' }],
    ["git-receive-pack '/srv/repo.git'", { protocol: 'git', direction: 'upload' }],
    ["git upload-archive '/srv/repo.git'", { protocol: 'git', direction: 'download' }],
    ['tar cf - /etc', { protocol: 'tar', direction: 'download' }],
    ['cd /srv && tar -xzf -', { protocol: 'tar', direction: 'upload' }],
    ['/usr/bin/tar --create --file=- /var/log', { protocol: 'tar', direction: 'download' }],
  ])('recognises %s', (command, expected) => {
    expect(streamTransferOf(command)).toEqual(expected);
  });

  it.each(['ls -l', 'rsync --version', 'echo git-upload-pack', 'tar --list -f x.tar', 'mytar cf - /', 'tar cxf -'])('leaves %s alone', (command) => {
    expect(streamTransferOf(command)).toBeUndefined();
  });
});
