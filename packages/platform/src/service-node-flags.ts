/**
 * Node flags of the platform's own data-path services, the API and the runner (README "Configuration": pass them
 * when starting those processes by hand). Every byte of an upload or download passes through both as 64 KiB buffers,
 * and with V8's concurrent marking that traffic kept each of them in back-to-back full collections of its whole heap
 * (the API's is about 58 MB): per 100 MB transferred about 3 in the API and 6 in the runner, whose GC threads used
 * more CPU than the main thread. On a machine where the SDK, API, runner and toolbox share the cores, that CPU is
 * the transfer's. With GC on the main thread at most one full GC per 300 MB remains and each process spends about
 * half the CPU per byte: `npm run bench -- --only echo,transfer,api` gave 100 MB upload / download at 0.56x / 0.57x
 * of the floor, against 0.43x / 0.41x without the flag. The cost, measured in the same A/B runs: listing all of 1,000
 * sandboxes in one answer serves about 15 % fewer requests per second; single reads and pages do not change.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
