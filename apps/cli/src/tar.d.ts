// node-tar 6 ships no types; the CLI uses only `create` (build-context upload).
declare module 'tar' {
  import type { Readable } from 'node:stream';
  export function create(options: { cwd?: string; portable?: boolean; gzip?: boolean }, files: string[]): Readable;
}
