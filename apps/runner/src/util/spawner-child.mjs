// The runner's spawner: a small Node.js process that starts the runner's short-lived tools (mount, nft, ip,
// mkfs, the idmap helper...) on its behalf.
//
// Why a second process: Node forks before it execs, and a fork copies the page tables of the whole process. The
// runner holds well over 100 MB, so each of the dozen or so tools a sandbox's create and delete run cost it about
// 3-4 ms of blocked event loop and kernel time; this process holds about 40 MB and forks several times faster.
// It is plain JavaScript run by plain `node` because the TypeScript loader alone would double its size.
//
// Protocol (Node's IPC channel, one message each way per run; the other side is spawner.ts):
//   request  { id, file, args, input?, cwd?, env }
//   answer   { id, code, stdout, stderr } once the program exited and its output closed,
//            or { id, error: { message, code } } when it could not be started.
// Every program runs in a session of its own, as the runner's direct spawns do.
import { spawn } from 'node:child_process';

process.on('disconnect', () => process.exit(0));

process.on('message', (req) => {
  // The first of 'error' and 'close' answers, as the first settle of a promise would.
  let answered = false;
  const reply = (msg) => {
    if (answered) return;
    answered = true;
    if (process.connected) process.send({ id: req.id, ...msg });
  };
  let child;
  try {
    child = spawn(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      stdio: [req.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (err) {
    reply({ error: { message: err.message, code: err.code } });
    return;
  }
  const stdout = [];
  const stderr = [];
  child.stdout.on('data', (d) => stdout.push(d));
  child.stderr.on('data', (d) => stderr.push(d));
  child.on('error', (err) => reply({ error: { message: err.message, code: err.code } }));
  child.on('close', (code, signal) => {
    reply({
      code: code ?? (signal ? 128 : 1),
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
    });
  });
  if (req.input !== undefined) {
    child.stdin.on('error', () => undefined);
    child.stdin.end(req.input);
  }
});
