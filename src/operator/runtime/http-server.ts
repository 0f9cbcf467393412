import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/**
 * The operator's HTTP endpoints: /metrics (Prometheus text), /healthz (the process works: no informer is stuck in
 * failure), /readyz (the caches are synced). Nothing else is served.
 */

export interface Probes {
  healthy(): { ok: boolean; detail: string };
  ready(): { ok: boolean; detail: string };
}

export class InvalidAddressError extends Error {
  constructor(address: string) {
    super(`invalid listen address ${JSON.stringify(address)}: use host:port, :port, or 0 to disable`);
    this.name = "InvalidAddressError";
  }
}

/** ":8080" → all interfaces; "127.0.0.1:0" → an ephemeral port; "0" → disabled (undefined). */
export function parseListenAddress(address: string): { host: string; port: number } | undefined {
  if (address === "0" || address === "") return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(address);
  if (!match) throw new InvalidAddressError(address);
  const port = Number(match[2]);
  if (port > 65_535) throw new InvalidAddressError(address);
  const host = (match[1] ?? "").replace(/^\[(.*)\]$/, "$1");
  return { host: host === "" ? "0.0.0.0" : host, port };
}

export interface HttpEndpoint {
  /** The bound address, such as http://127.0.0.1:43123. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startHttpServer(
  address: string,
  registry: Registry,
  probes: Probes,
): Promise<HttpEndpoint | undefined> {
  const listen = parseListenAddress(address);
  if (listen === undefined) return undefined;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405).end();
      return;
    }
    if (path === "/metrics") {
      registry
        .metrics()
        .then((text) => {
          response.writeHead(200, { "content-type": registry.contentType });
          response.end(text);
        })
        .catch((error: unknown) => {
          response.writeHead(500, { "content-type": "text/plain" });
          response.end(String(error));
        });
      return;
    }
    const probe = path === "/healthz" ? probes.healthy() : path === "/readyz" ? probes.ready() : undefined;
    if (probe === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    response.writeHead(probe.ok ? 200 : 503, { "content-type": "text/plain" });
    response.end(`${probe.ok ? "ok" : "not ok"}: ${probe.detail}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
