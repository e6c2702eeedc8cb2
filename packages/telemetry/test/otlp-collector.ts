import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as an OTLP/HTTP JSON export carries it (what startTracing's exporter sends). */
export interface CollectedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
}

export interface OtlpCollector {
  /** The base URL to give startTracing (SHOAL_OTLP_ENDPOINT). */
  endpoint: string;
  spans: CollectedSpan[];
  /** The spans of `traceId` once `names` are all there (the exporter batches every 500 ms); throws after `timeoutMs`. */
  waitFor(traceId: string, names: string[], timeoutMs?: number): Promise<CollectedSpan[]>;
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };

/** A loopback OTLP/HTTP trace collector for tests: it keeps every span it is sent. */
export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: Array<{
          resource: { attributes: Array<{ key: string; value: AnyValue }> };
          scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: Array<{ key: string; value: AnyValue }> }> }>;
        }>;
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: CollectedSpan['attributes'] = {};
            for (const a of s.attributes ?? []) attributes[a.key] = a.value.stringValue ?? a.value.boolValue ?? a.value.doubleValue ?? Number(a.value.intValue);
            spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, attributes });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    async waitFor(traceId, names, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mine = spans.filter((s) => s.traceId === traceId);
        if (names.every((n) => mine.some((s) => s.name === n))) return mine;
        if (Date.now() > deadline) throw new Error(`spans ${JSON.stringify(names)} not all collected; trace ${traceId} has ${JSON.stringify(mine.map((s) => s.name))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
