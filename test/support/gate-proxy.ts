/**
 * An HTTP proxy in front of a real S3 server that can hold every request until the test opens the gate: a run that
 * is "in progress" for exactly as long as a test needs (an operator restarted mid-run, a second resource waiting for
 * the datastore). The Host header is forwarded unchanged, so SigV4 signatures made for the proxy's address stay valid.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface GateProxy {
  readonly endpoint: string;
  /** Requests waiting behind the closed gate. */
  readonly held: number;
  /** Requests forwarded so far. */
  readonly forwarded: number;
  open(): void;
  close(): void;
  stop(): Promise<void>;
}

export async function startGateProxy(target: string, initiallyOpen = true): Promise<GateProxy> {
  const targetUrl = new URL(target);
  let isOpen = initiallyOpen;
  let forwarded = 0;
  const waiting: (() => void)[] = [];

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    forwarded += 1;
    const upstream = request(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on("error", () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };

  const server = createServer((incoming, outgoing) => {
    if (isOpen) forward(incoming, outgoing);
    else waiting.push(() => forward(incoming, outgoing));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get held() {
      return waiting.length;
    },
    get forwarded() {
      return forwarded;
    },
    open() {
      isOpen = true;
      for (const release of waiting.splice(0)) release();
    },
    close() {
      isOpen = false;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
