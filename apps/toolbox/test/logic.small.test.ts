import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { splitCommand } from '../src/process/split-command.js';
import { globToRegExp } from '../src/files/glob.js';
import { goTimeString } from '../src/files/file-info.js';
import { parseStatusV2 } from '../src/git/git-status.js';
import { Framer, stripMarkers, wantsMarkers } from '../src/process/output-log.js';
import { dispositionFilename } from '../src/files/transfer.js';
import { exitReason } from '../src/process/pty.service.js';

describe('splitCommand (the daemon’s quote-aware argv splitting)', () => {
  it('keeps the SDK wrapper as a single sh -c argument', () => {
    const cmd = `sh -c "export K=$(echo 'YSBi' | base64 -d); echo 'ZWNobw==' | base64 -d | sh"`;
    assert.deepEqual(splitCommand(cmd), ['sh', '-c', `export K=$(echo 'YSBi' | base64 -d); echo 'ZWNobw==' | base64 -d | sh`]);
  });
  it('drops quote characters, keeps the other kind literally, does not treat backslash as escape', () => {
    assert.deepEqual(splitCommand(`echo 'a "b"' "c 'd'" e\\ f`), ['echo', 'a "b"', "c 'd'", 'e\\', 'f']);
    assert.deepEqual(splitCommand('  a   b  '), ['a', 'b']);
    assert.deepEqual(splitCommand('a""b'), ['ab']);
    assert.deepEqual(splitCommand(''), []);
  });
});

describe('globToRegExp (Go filepath.Match on a base name)', () => {
  it('matches *, ? and classes', () => {
    assert.ok(globToRegExp('*.json')?.test('a.json'));
    assert.ok(!globToRegExp('*.json')?.test('a.json.bak'));
    assert.ok(globToRegExp('?.ts')?.test('a.ts'));
    assert.ok(globToRegExp('[ab]*.ts')?.test('b1.ts'));
    assert.ok(!globToRegExp('[^ab]*.ts')?.test('b1.ts'));
    assert.ok(globToRegExp('a\\*')?.test('a*'));
    assert.equal(globToRegExp('[ab'), undefined);
  });
});

describe('goTimeString', () => {
  it('formats like Go’s Time.String in UTC, trimming fractional zeros', () => {
    assert.equal(goTimeString(1_700_000_000_120_000_000n), '2023-11-14 22:13:20.12 +0000 UTC');
    assert.equal(goTimeString(1_700_000_000_000_000_000n), '2023-11-14 22:13:20 +0000 UTC');
  });
});

describe('parseStatusV2', () => {
  it('maps porcelain v2 to go-git words, renames with their origin, branch and ahead/behind', () => {
    const out = [
      '# branch.oid abc',
      '# branch.head main',
      '# branch.upstream origin/main',
      '# branch.ab +2 -1',
      '1 .M N... 100644 100644 100644 a a file with space.txt',
      '1 A. N... 000000 100644 100644 0 b added.txt',
      '2 R. N... 100644 100644 100644 a a R100 new.txt',
      'old.txt',
      'u UU N... 100644 100644 100644 100644 a b c conflict.txt',
      '? untracked.txt',
      '',
    ].join('\0');
    assert.deepEqual(parseStatusV2(out), {
      currentBranch: 'main',
      ahead: 2,
      behind: 1,
      branchPublished: true,
      fileStatus: [
        { name: 'file with space.txt', staging: 'Unmodified', worktree: 'Modified', extra: '' },
        { name: 'added.txt', staging: 'Added', worktree: 'Unmodified', extra: '' },
        { name: 'new.txt', staging: 'Renamed', worktree: 'Unmodified', extra: 'old.txt' },
        { name: 'conflict.txt', staging: 'Updated but unmerged', worktree: 'Updated but unmerged', extra: '' },
        { name: 'untracked.txt', staging: 'Untracked', worktree: 'Untracked', extra: '' },
      ],
    });
  });
});

describe('session log framing', () => {
  it('prefixes every line and re-marks a stream switch in the middle of a line', () => {
    const framer = new Framer();
    const log = Buffer.concat([
      framer.frame('stdout', Buffer.from('a\nb')),
      framer.frame('stderr', Buffer.from('E\n')),
      framer.frame('stdout', Buffer.from('c\n')),
    ]);
    assert.equal(log.toString(), '\x01\x01\x01a\n\x01\x01\x01b\x02\x02\x02E\n\x01\x01\x01c\n');
    assert.equal(stripMarkers(log).toString(), 'a\nbE\nc\n');
  });
  it('keeps markers unless an SDK older than 0.27.0 asks', () => {
    assert.equal(wantsMarkers(undefined), true);
    assert.equal(wantsMarkers('0.108.1'), true);
    assert.equal(wantsMarkers('0.27.0'), true);
    assert.equal(wantsMarkers('0.26.9'), false);
    assert.equal(wantsMarkers('0.0.0-dev'), true);
  });
});

describe('bulk-download filenames', () => {
  it('quotes plain names and adds an RFC 5987 form for anything else', () => {
    assert.equal(dispositionFilename('a/b.txt'), 'filename="a/b.txt"');
    assert.equal(dispositionFilename('q"\\.txt'), 'filename="q\\"\\\\.txt"');
    assert.equal(dispositionFilename('ü.txt'), `filename="_.txt"; filename*=UTF-8''%C3%BC.txt`);
  });
});

describe('PTY exit reasons', () => {
  it('maps signals and codes to the close reason the SDK parses', () => {
    assert.deepEqual(exitReason(0, undefined), { exitCode: 0 });
    assert.deepEqual(exitReason(0, 9), { exitCode: 137, exitReason: 'SIGKILL' });
    assert.deepEqual(exitReason(0, 2), { exitCode: 130, exitReason: 'Ctrl+C' });
    assert.deepEqual(exitReason(3, 0), { exitCode: 3, exitReason: 'non-zero exit' });
  });
});
