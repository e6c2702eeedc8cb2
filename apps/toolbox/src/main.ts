import { runDaemon } from './daemon.js';

runDaemon();
