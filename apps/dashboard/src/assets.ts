import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build -w @shoal/dashboard` leaves the dashboard's files (index.html and assets/). */
export const DASHBOARD_DIST_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
