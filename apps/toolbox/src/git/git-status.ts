import type { GitFileStatus, GitStatus } from '@shoal/contracts';

/** go-git's status words for the one-letter codes of `git status` (porcelain v2 writes `.` for unmodified). */
const words: Record<string, string> = {
  '.': 'Unmodified',
  ' ': 'Unmodified',
  '?': 'Untracked',
  M: 'Modified',
  T: 'Modified',
  A: 'Added',
  D: 'Deleted',
  R: 'Renamed',
  C: 'Copied',
  U: 'Updated but unmerged',
};

const word = (code: string | undefined) => words[code ?? '.'] ?? 'Unmodified';

/** Parses `git status --porcelain=v2 --branch -z`. */
export function parseStatusV2(output: string): GitStatus {
  const status: GitStatus = { currentBranch: '', fileStatus: [], ahead: 0, behind: 0, branchPublished: false };
  const records = output.split('\0');
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as string;
    if (record === '') continue;
    if (record.startsWith('# branch.head ')) {
      const head = record.slice('# branch.head '.length);
      status.currentBranch = head === '(detached)' ? 'HEAD' : head;
    } else if (record.startsWith('# branch.upstream ')) {
      status.branchPublished = true;
    } else if (record.startsWith('# branch.ab ')) {
      const m = /\+(\d+) -(\d+)/.exec(record);
      status.ahead = Number(m?.[1] ?? 0);
      status.behind = Number(m?.[2] ?? 0);
    } else if (record.startsWith('1 ') || record.startsWith('u ')) {
      // "1 XY sub mH mI mW hH hI path" / "u XY sub m1 m2 m3 mW h1 h2 h3 path"
      const fields = record.split(' ');
      const xy = fields[1] ?? '..';
      const skip = record.startsWith('1 ') ? 8 : 10;
      const name = fields.slice(skip).join(' ');
      const entry: GitFileStatus = record.startsWith('u ')
        ? { name, staging: 'Updated but unmerged', worktree: 'Updated but unmerged', extra: '' }
        : { name, staging: word(xy[0]), worktree: word(xy[1]), extra: '' };
      status.fileStatus.push(entry);
    } else if (record.startsWith('2 ')) {
      // "2 XY sub mH mI mW hH hI Xscore path" followed by a separate NUL-terminated original path.
      const fields = record.split(' ');
      const xy = fields[1] ?? '..';
      const name = fields.slice(9).join(' ');
      const original = records[i + 1] ?? '';
      i += 1;
      status.fileStatus.push({ name, staging: word(xy[0]), worktree: word(xy[1]), extra: original });
    } else if (record.startsWith('? ')) {
      status.fileStatus.push({ name: record.slice(2), staging: 'Untracked', worktree: 'Untracked', extra: '' });
    }
  }
  return status;
}
