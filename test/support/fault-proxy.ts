/**
 * A fault-injecting HTTP proxy in front of a real S3 server, for the engine's error paths. Random faults (503
 * SlowDown, connection resets at given rates), a deterministic plan (a chosen answer for the n-th request of a kind,
 * or for one key), delays, rewritten DeleteObjects answers (chosen keys reported as failed), and a skewed server clock
 * (Date headers and LastModified shifted). Every request is logged with its kind, key and times, so a test can say
 * what was sent when. The Host header is forwarded unchanged, so SigV4 signatures made for the proxy's address stay
 * valid (requests are never altered, only answers).
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What an S3 request does, by method and query: the proxy's unit for plans and counts. */
export type RequestKind = "list" | "get" | "head" | "put" | "delete" | "deleteObjects" | "other";

export const REQUEST_KINDS: readonly RequestKind[] = ["list", "get", "head", "put", "delete", "deleteObjects", "other"];

export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  readonly kind: RequestKind;
  /** Object key (path-style: the path after the bucket), "" for bucket-level requests. */
  readonly key: string;
  readonly query: URLSearchParams;
  /** 1-based position among all requests, and among requests of its kind. */
  readonly seq: number;
  readonly kindSeq: number;
}

/** An answer the proxy gives instead of (or before) the server's. */
export type Fault =
  | { readonly type: "slowDown" }
  | { readonly type: "reset" }
  | { readonly type: "status"; readonly status: number; readonly code: string; readonly afterMs?: number }
  | { readonly type: "delay"; readonly ms: number };

export interface FaultRules {
  /** Fraction (0…1) of requests answered 503 SlowDown without reaching the server. */
  slowDownRate?: number;
  /** Fraction (0…1) of requests whose connection is reset without an answer. */
  resetRate?: number;
  /** Keys that every DeleteObjects answer reports as failed (InternalError), deleted or not. */
  failDeleteKeys?: (key: string) => boolean;
  /** Decides, per request, whether faults may hit it (e.g. only during the sweep). */
  appliesTo?: (method: string, url: string) => boolean;
  /** Deterministic faults: consulted first for every request (that `appliesTo` admits). */
  plan?: (request: ProxiedRequest) => Fault | undefined;
  /** A server clock this far from the real one: Date headers, Last-Modified headers and listed LastModified. */
  clockShiftMs?: number;
  /** Answer 200 where the server refused a conditional PUT (412): a server that ignores If-None-Match. */
  ignoreIfNoneMatch?: boolean;
}

export interface LoggedRequest {
  readonly seq: number;
  readonly method: string;
  readonly url: string;
  readonly kind: RequestKind;
  readonly key: string;
  readonly arrivedMs: number;
  /** When its answer was complete (or the fault given); undefined while in flight. */
  doneMs?: number;
  status?: number;
  fault?: Fault["type"] | "deleteErrors";
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly injected: { slowDown: number; reset: number; deleteErrors: number; status: number; delay: number };
  /** Faults injected per request kind and fault type. */
  readonly injectedByKind: Record<RequestKind, Record<string, number>>;
  /** Every request in arrival order. */
  readonly log: LoggedRequest[];
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

/** Pure: what kind of S3 request this is (path-style addressing). */
export function classifyRequest(
  method: string,
  url: string,
): { kind: RequestKind; key: string; query: URLSearchParams } {
  const parsed = new URL(url, "http://proxy");
  const [, , ...rest] = parsed.pathname.split("/");
  const key = decodeURIComponent(rest.join("/"));
  const query = parsed.searchParams;
  let kind: RequestKind = "other";
  if (method === "GET") kind = query.get("list-type") === "2" ? "list" : key ? "get" : "other";
  else if (method === "HEAD") kind = key ? "head" : "other";
  else if (method === "PUT") kind = key ? "put" : "other";
  else if (method === "DELETE") kind = key ? "delete" : "other";
  else if (method === "POST" && query.has("delete")) kind = "deleteObjects";
  return { kind, key, query };
}

function rewriteDeleteResult(xml: string, failKey: (key: string) => boolean, onFail: () => void): string {
  return xml.replace(/<Deleted>([\s\S]*?)<\/Deleted>/g, (whole, inner: string) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    if (key === undefined || !failKey(key.replace(/&amp;/g, "&"))) return whole;
    onFail();
    return `<Error><Key>${key}</Key><Code>InternalError</Code><Message>injected by the fault proxy</Message></Error>`;
  });
}

function shiftHttpDate(value: string | string[] | undefined, shiftMs: number): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms + shiftMs).toUTCString() : text;
}

function shiftListedTimes(xml: string, shiftMs: number): string {
  return xml.replace(/<LastModified>([^<]*)<\/LastModified>/g, (whole, text: string) => {
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? `<LastModified>${new Date(ms + shiftMs).toISOString()}</LastModified>` : whole;
  });
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

export async function startFaultProxy(target: string, rules: FaultRules = {}, seed = 42): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const random = seeded(seed);
  const injected = { slowDown: 0, reset: 0, deleteErrors: 0, status: 0, delay: 0 };
  const injectedByKind = Object.fromEntries(REQUEST_KINDS.map((kind) => [kind, {}])) as Record<
    RequestKind,
    Record<string, number>
  >;
  const log: LoggedRequest[] = [];
  const kindCounts = new Map<RequestKind, number>();
  const proxy: { rules: FaultRules } = { rules };
  const count = (kind: RequestKind, type: string) => {
    injectedByKind[kind][type] = (injectedByKind[kind][type] ?? 0) + 1;
  };

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse, entry: LoggedRequest, active: boolean) => {
    const { method, url } = entry;
    const current = proxy.rules;
    const shift = current.clockShiftMs ?? 0;
    const isDeleteObjects = entry.kind === "deleteObjects";
    const rewriteDeletes = isDeleteObjects && active && current.failDeleteKeys !== undefined;
    const rewriteList = entry.kind === "list" && shift !== 0;
    const conditional = method === "PUT" && incoming.headers["if-none-match"] !== undefined;
    const upstream = request(
      { host: targetUrl.hostname, port: targetUrl.port, method, path: url, headers: incoming.headers },
      (response) => {
        let status = response.statusCode ?? 502;
        const headers = { ...response.headers };
        if (shift !== 0) {
          const date = shiftHttpDate(headers.date, shift);
          if (date) headers.date = date;
          const lastModified = shiftHttpDate(headers["last-modified"], shift);
          if (lastModified) headers["last-modified"] = lastModified;
        }
        const finish = () => {
          entry.doneMs = Date.now();
          entry.status = status;
        };
        if (conditional && status === 412 && current.ignoreIfNoneMatch) {
          // As a server that ignores the condition answers: the write "succeeded".
          response.resume();
          status = 200;
          count(entry.kind, "ignoredIfNoneMatch");
          outgoing.writeHead(200, { etag: '"ignored-if-none-match"', "content-length": "0", date: headers.date ?? "" });
          outgoing.end(finish);
          return;
        }
        if (!rewriteDeletes && !rewriteList) {
          outgoing.writeHead(status, headers);
          response.pipe(outgoing);
          response.on("end", finish);
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          let body = Buffer.concat(chunks).toString("utf8");
          if (rewriteList) body = shiftListedTimes(body, shift);
          if (rewriteDeletes) {
            body = rewriteDeleteResult(body, current.failDeleteKeys!, () => {
              injected.deleteErrors += 1;
              count(entry.kind, "deleteErrors");
              entry.fault = "deleteErrors";
            });
          }
          headers["content-length"] = String(Buffer.byteLength(body));
          delete headers["transfer-encoding"];
          outgoing.writeHead(status, headers);
          outgoing.end(body, finish);
        });
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };

  const handle = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const method = incoming.method ?? "GET";
    const url = incoming.url ?? "/";
    const { kind, key, query } = classifyRequest(method, url);
    const kindSeq = (kindCounts.get(kind) ?? 0) + 1;
    kindCounts.set(kind, kindSeq);
    const entry: LoggedRequest = { seq: log.length + 1, method, url, kind, key, arrivedMs: Date.now() };
    log.push(entry);
    const current = proxy.rules;
    const active = current.appliesTo?.(method, url) ?? true;
    const planned = active ? current.plan?.({ method, url, kind, key, query, seq: entry.seq, kindSeq }) : undefined;
    const fault: Fault | undefined =
      planned ??
      (active && random() < (current.resetRate ?? 0)
        ? { type: "reset" }
        : active && random() < (current.slowDownRate ?? 0)
          ? { type: "slowDown" }
          : undefined);
    if (fault) {
      injected[fault.type] += 1;
      count(kind, fault.type);
      entry.fault = fault.type;
    }
    if (fault?.type === "reset") {
      entry.doneMs = Date.now();
      incoming.socket.destroy();
      return;
    }
    if (fault?.type === "status" && fault.afterMs !== undefined && fault.afterMs > 0) {
      const { afterMs, ...now } = fault;
      setTimeout(() => answerWith(incoming, outgoing, entry, now), afterMs);
      return;
    }
    if (fault?.type === "slowDown" || fault?.type === "status") {
      answerWith(incoming, outgoing, entry, fault);
      return;
    }
    if (fault?.type === "delay") {
      setTimeout(() => forward(incoming, outgoing, entry, active), fault.ms);
      return;
    }
    forward(incoming, outgoing, entry, active);
  };

  /** Answers with an S3 error without asking the server. */
  const answerWith = (
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    entry: LoggedRequest,
    fault: Extract<Fault, { type: "slowDown" | "status" }>,
  ) => {
    const status = fault.type === "slowDown" ? 503 : fault.status;
    const code = fault.type === "slowDown" ? "SlowDown" : fault.code;
    incoming.resume();
    const body = entry.method === "HEAD" ? "" : errorXml(code, "injected by the fault proxy");
    const date = new Date(Date.now() + (proxy.rules.clockShiftMs ?? 0)).toUTCString();
    outgoing.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body), date });
    outgoing.end(body, () => {
      entry.doneMs = Date.now();
      entry.status = status;
    });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    injectedByKind,
    log,
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
