/**
 * The soak's fault-injecting HTTP proxy in front of a real S3 server. Per request, a seeded random draw picks at most
 * one fault: a transient 404 NoSuchKey on an object read, 500 InternalError, 503 SlowDown, a connection reset, a
 * slow answer; DeleteObjects answers can report some keys as failed (the server deleted them or not). It also keeps
 * a log of what passed (for "no delete after the lease was lost") and calls a trigger on the Nth request, which is
 * where the soak kills or stops the engine process. The Host header is forwarded unchanged, so SigV4 signatures made
 * for the proxy's address stay valid.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

export const FAULT_KINDS = ["notFound", "internalError", "slowDown", "reset", "slow", "deleteError"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultCounts = Record<FaultKind, number>;

export function emptyFaultCounts(): FaultCounts {
  return { notFound: 0, internalError: 0, slowDown: 0, reset: 0, slow: 0, deleteError: 0 };
}

export interface FaultPlan {
  /** Probability (0…1) that a request gets a fault at all; the kind is then drawn from `kinds`. */
  readonly rate: number;
  readonly kinds: readonly FaultKind[];
  /** Upper bound of an injected delay. */
  readonly slowMs: number;
}

export const NO_FAULTS: FaultPlan = { rate: 0, kinds: [], slowMs: 0 };

export interface ProxyLogEntry {
  readonly atMs: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface SoakProxy {
  readonly endpoint: string;
  readonly injected: FaultCounts;
  readonly requests: number;
  readonly log: readonly ProxyLogEntry[];
  /** Called once, synchronously, when the Nth request (1-based) arrives, before it is handled. */
  onRequest(n: number, trigger: () => void): void;
  /** Called once, synchronously, when the first DeleteObjects arrives (it is forwarded all the same). */
  onFirstDelete(trigger: () => void): void;
  /**
   * A new run behind the same address (the engine's caches are keyed by endpoint, so a round keeps its proxy): new
   * faults and seed; counts, log and triggers start from zero.
   */
  reset(plan: FaultPlan, seed: number): void;
  close(): Promise<void>;
}

/** mulberry32: small, seeded, good enough to spread faults; replays with the same seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const errorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

function isDeleteObjects(method: string, url: string): boolean {
  return method === "POST" && /[?&]delete(=|&|$)/.test(url);
}

/** An object read: GET or HEAD of a key (a path with more than the bucket), not a listing. */
function isObjectRead(method: string, url: string): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const path = url.split("?")[0] ?? "";
  return path.split("/").filter(Boolean).length >= 2 && !/[?&]list-type=/.test(url);
}

function failSomeDeleted(xml: string, random: () => number, onFail: () => void): string {
  return xml.replace(/<Deleted>([\s\S]*?)<\/Deleted>/g, (whole, inner: string) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    if (key === undefined || random() >= 0.3) return whole;
    onFail();
    return `<Error><Key>${key}</Key><Code>InternalError</Code><Message>injected by the soak proxy</Message></Error>`;
  });
}

export async function startSoakProxy(target: string, initialPlan: FaultPlan, seed: number): Promise<SoakProxy> {
  const targetUrl = new URL(target);
  let plan = initialPlan;
  let random = seededRandom(seed);
  const injected = emptyFaultCounts();
  const log: ProxyLogEntry[] = [];
  let requests = 0;
  const triggers = new Map<number, () => void>();
  let deleteTrigger: (() => void) | undefined;

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse, method: string, url: string, fail: boolean) => {
    const upstream = request(
      { host: targetUrl.hostname, port: targetUrl.port, method, path: url, headers: incoming.headers },
      (response) => {
        const status = response.statusCode ?? 502;
        log.push({ atMs: Date.now(), method, path: url, status });
        if (!fail) {
          outgoing.writeHead(status, response.headers);
          response.pipe(outgoing);
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const body = failSomeDeleted(Buffer.concat(chunks).toString("utf8"), random, () => {
            injected.deleteError += 1;
          });
          const headers = { ...response.headers, "content-length": String(Buffer.byteLength(body)) };
          delete headers["transfer-encoding"];
          outgoing.writeHead(status, headers);
          outgoing.end(body);
        });
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };

  const handle = async (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const method = incoming.method ?? "GET";
    const url = incoming.url ?? "/";
    requests += 1;
    const trigger = triggers.get(requests);
    if (trigger) {
      triggers.delete(requests);
      trigger();
    }
    const deleting = isDeleteObjects(method, url);
    if (deleting && deleteTrigger) {
      const fire = deleteTrigger;
      deleteTrigger = undefined;
      fire();
    }
    let kind: FaultKind | undefined;
    if (plan.rate > 0 && plan.kinds.length > 0 && random() < plan.rate) {
      const candidates = plan.kinds.filter(
        (k) => (k !== "notFound" || isObjectRead(method, url)) && (k !== "deleteError" || deleting),
      );
      kind = candidates[Math.floor(random() * candidates.length)];
    }
    const answer = (status: number, code: string, message: string) => {
      incoming.resume();
      log.push({ atMs: Date.now(), method, path: url, status });
      outgoing.writeHead(status, { "content-type": "application/xml" });
      outgoing.end(method === "HEAD" ? undefined : errorXml(code, message));
    };
    switch (kind) {
      case "notFound":
        injected.notFound += 1;
        return answer(404, "NoSuchKey", "The specified key does not exist.");
      case "internalError":
        injected.internalError += 1;
        return answer(500, "InternalError", "We encountered an internal error. Please try again.");
      case "slowDown":
        injected.slowDown += 1;
        return answer(503, "SlowDown", "Please reduce your request rate.");
      case "reset":
        injected.reset += 1;
        incoming.socket.destroy();
        return;
      case "slow":
        injected.slow += 1;
        await delay(Math.floor(random() * plan.slowMs));
        return forward(incoming, outgoing, method, url, false);
      case "deleteError":
        return forward(incoming, outgoing, method, url, true);
      default:
        return forward(incoming, outgoing, method, url, false);
    }
  };

  const server = createServer((incoming, outgoing) => {
    handle(incoming, outgoing).catch(() => incoming.socket.destroy());
  });
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    get requests() {
      return requests;
    },
    log,
    onRequest(n, trigger) {
      triggers.set(n, trigger);
    },
    onFirstDelete(trigger) {
      deleteTrigger = trigger;
    },
    reset(next, nextSeed) {
      plan = next;
      random = seededRandom(nextSeed);
      Object.assign(injected, emptyFaultCounts());
      log.length = 0;
      requests = 0;
      triggers.clear();
      deleteTrigger = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
