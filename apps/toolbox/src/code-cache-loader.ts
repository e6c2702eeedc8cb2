/**
 * The daemon's entry (dist/toolbox.cjs): runs the bundle (dist/toolbox-main.cjs) from V8's code cache when the
 * build left one for exactly that bundle. Every sandbox start runs a new Node process, and compiling the bundle was
 * the largest single cost of the daemon's start after Node's own boot (measured: about 18 ms of a 97 ms start, and
 * more of the first command, whose handlers are compiled on first use; the cache is written after a first command).
 *
 * The cache is produced on the host by the build (scripts/build.mjs), never by a sandbox, and is read from the
 * read-only bind mount: nothing in it is sandbox-controlled. V8 itself checks only the source's length against it,
 * so the file starts with the identity of the bundle file it was made for (inode, size, modification time in ns) and
 * is ignored for any other file, a rebuilt or copied bundle included; V8 rejects it for another Node or other flags,
 * and the bundle then compiles as usual. Not a hash of the source: hashing it loaded Node's crypto module, which
 * nothing else of the daemon needs before its first request, and the two cost about 10 ms of every sandbox's start.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { startThreadPool } from './thread-pool.js';

export const BUNDLE = 'toolbox-main.cjs';
export const CODE_CACHE = 'toolbox-main.cache';
const STAMP_BYTES = 24;
const MODULE_WRAPPER = (Module as unknown as { wrapper: [string, string] }).wrapper;
/** Given on the command line by the build only: the runner's arguments are fixed, and a user's env never reaches it. */
const WRITE_FLAG = '--write-code-cache=';

function note(msg: string): void {
  process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), name: 'toolbox', msg })}\n`);
}

function run(): void {
  startThreadPool();
  const dir = dirname(process.argv[1] ?? __filename);
  const file = join(dir, BUNDLE);
  const source = readFileSync(file, 'utf8');
  const stamp = fileStamp(file);
  let cachedData: Buffer | undefined;
  try {
    const blob = readFileSync(join(dir, CODE_CACHE));
    if (blob.subarray(0, STAMP_BYTES).equals(stamp)) cachedData = blob.subarray(STAMP_BYTES);
    else note('code cache not used: it was made for another bundle');
  } catch {
    note('code cache not used: none beside the bundle');
  }
  // The build writes the bundle already wrapped (scripts/build.mjs); a bundle from elsewhere is wrapped here.
  const wrapped = source.startsWith(MODULE_WRAPPER[0]) ? source : Module.wrap(source);
  const script = new Script(wrapped, { filename: file, ...(cachedData ? { cachedData } : {}) });
  if (cachedData && script.cachedDataRejected) note('code cache not used: rejected by this Node (another version or flags)');

  const writeTo = process.argv.find((a) => a.startsWith(WRITE_FLAG))?.slice(WRITE_FLAG.length);
  if (writeTo) {
    // At exit, so that the functions the first requests ran are compiled and go into the cache too.
    process.once('exit', () => {
      writeFileSync(`${writeTo}.tmp`, Buffer.concat([stamp, script.createCachedData()]));
      renameSync(`${writeTo}.tmp`, writeTo);
    });
  }

  const mod = new Module(file);
  mod.filename = file;
  const req = Module.createRequire(file);
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, req, mod, file, dir);
}

/** The bundle file's inode, size and modification time (ns): a rewrite, a rebuild or a copy changes one of them. */
function fileStamp(file: string): Buffer {
  const st = statSync(file, { bigint: true });
  const out = Buffer.alloc(STAMP_BYTES);
  out.writeBigUInt64LE(st.ino, 0);
  out.writeBigUInt64LE(st.size, 8);
  out.writeBigUInt64LE(st.mtimeNs, 16);
  return out;
}

run();
