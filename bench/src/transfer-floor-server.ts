/*
 * The transfer floor's server, run as a process of its own (never inside the benchmark's process): PUT /files/<name>
 * streams the body to a file in the directory given as argv[2] (written beside the target and renamed over it, as the
 * toolbox does), GET /files/<name> streams the file back. Listens on 127.0.0.1 on a free port and prints the port.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const dir = process.argv[2];
if (!dir) throw new Error('usage: transfer-floor-server.ts <dir>');

const server = createServer((req, res) => {
  const name = basename(decodeURIComponent((req.url ?? '').replace(/^\/files\//, '')));
  const target = join(dir, name);
  const fail = (err: Error) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(err.message);
  };
  if (req.method === 'PUT') {
    const tmp = `${target}.upload-${process.pid}`;
    pipeline(req, createWriteStream(tmp))
      .then(() => rename(tmp, target))
      .then(() => res.end('ok'), fail);
  } else if (req.method === 'GET') {
    stat(target).then((s) => {
      res.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
      return pipeline(createReadStream(target), res);
    }).catch(fail);
  } else {
    res.writeHead(405).end();
  }
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
