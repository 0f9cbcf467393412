/**
 * A fault-injecting HTTP proxy in front of a real S3 server, for the engine's error paths: it answers some requests
 * with 503 SlowDown, resets some connections, and can rewrite DeleteObjects answers so that chosen keys come back as
 * failed. The Host header is forwarded unchanged, so SigV4 signatures made for the proxy's address stay valid.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultRules {
  /** Fraction (0…1) of requests answered 503 SlowDown without reaching the server. */
  slowDownRate?: number;
  /** Fraction (0…1) of requests whose connection is reset without an answer. */
  resetRate?: number;
  /** Keys that every DeleteObjects answer reports as failed (InternalError), deleted or not. */
  failDeleteKeys?: (key: string) => boolean;
  /** Decides, per request, whether faults may hit it (e.g. only during the sweep). */
  appliesTo?: (method: string, url: string) => boolean;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly injected: { slowDown: number; reset: number; deleteErrors: number };
  rules: FaultRules;
  close(): Promise<void>;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

function rewriteDeleteResult(xml: string, failKey: (key: string) => boolean, onFail: () => void): string {
  return xml.replace(/<Deleted>([\s\S]*?)<\/Deleted>/g, (whole, inner: string) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    if (key === undefined || !failKey(key.replace(/&amp;/g, "&"))) return whole;
    onFail();
    return `<Error><Key>${key}</Key><Code>InternalError</Code><Message>injected by the fault proxy</Message></Error>`;
  });
}

export async function startFaultProxy(target: string, rules: FaultRules = {}, seed = 42): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const random = seeded(seed);
  const injected = { slowDown: 0, reset: 0, deleteErrors: 0 };
  const proxy: { rules: FaultRules } = { rules };

  const handle = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const method = incoming.method ?? "GET";
    const url = incoming.url ?? "/";
    const active = proxy.rules.appliesTo?.(method, url) ?? true;
    if (active && random() < (proxy.rules.resetRate ?? 0)) {
      injected.reset += 1;
      incoming.socket.destroy();
      return;
    }
    if (active && random() < (proxy.rules.slowDownRate ?? 0)) {
      injected.slowDown += 1;
      incoming.resume();
      outgoing.writeHead(503, { "content-type": "application/xml" });
      outgoing.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
      );
      return;
    }
    const isDeleteObjects = method === "POST" && /[?&]delete(=|&|$)/.test(url);
    const upstream = request(
      { host: targetUrl.hostname, port: targetUrl.port, method, path: url, headers: incoming.headers },
      (response) => {
        if (!(isDeleteObjects && active && proxy.rules.failDeleteKeys)) {
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(outgoing);
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const body = rewriteDeleteResult(Buffer.concat(chunks).toString("utf8"), proxy.rules.failDeleteKeys!, () => {
            injected.deleteErrors += 1;
          });
          const headers = { ...response.headers, "content-length": String(Buffer.byteLength(body)) };
          delete headers["transfer-encoding"];
          outgoing.writeHead(response.statusCode ?? 502, headers);
          outgoing.end(body);
        });
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    get rules() {
      return proxy.rules;
    },
    set rules(next: FaultRules) {
      proxy.rules = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
