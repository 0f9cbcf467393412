/**
 * An S3 endpoint over TLS with a certificate from a CA of its own, for tests of custom CA bundles: a CA and a server
 * certificate for one IP address made with the openssl CLI (ECDSA P-256, milliseconds), and a TLS-terminating front
 * that pipes each decrypted connection to a plain-HTTP server on loopback. The bytes pass unchanged (the Host header
 * the client signed included), so the S3 server behind it sees the client's requests as they were sent.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { promisify } from "node:util";

const run = promisify(execFile);
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"];

export interface TestCa {
  /** PEM of the CA certificate: what a client must trust. */
  caPem: string;
  /** PEM of the server certificate (signed by the CA, SAN IP:<address>) and its key. */
  certPem: string;
  keyPem: string;
}

/** A fresh CA and a server certificate for `address`; nothing stays on disk. */
export async function testCaFor(address: string): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), "chunkgc-tls-"));
  const file = (name: string) => join(dir, name);
  try {
    await run("openssl", [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.crt"),
      "-subj",
      "/CN=chunkgc-test-s3-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await run("openssl", [
      "req",
      "-x509",
      ...EC,
      "-CA",
      file("ca.crt"),
      "-CAkey",
      file("ca.key"),
      "-keyout",
      file("server.key"),
      "-out",
      file("server.crt"),
      "-subj",
      "/CN=chunkgc-test-s3",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "keyUsage=critical,digitalSignature",
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-addext",
      `subjectAltName=IP:${address}`,
    ]);
    const read = (name: string) => readFileSync(file(name), "utf8");
    return { caPem: read("ca.crt"), certPem: read("server.crt"), keyPem: read("server.key") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TlsFront {
  /** https://<address>:<port> */
  endpoint: string;
  /** TLS handshakes completed (clients that trusted the certificate). */
  readonly handshakes: number;
  /** Handshakes that failed, with the server side's error codes. */
  readonly handshakeErrors: readonly string[];
  close(): Promise<void>;
}

/** Listens on `address` (an address pods reach) with `ca`'s server certificate, forwarding to `target` (http://…). */
export async function startTlsFront(address: string, ca: TestCa, target: string): Promise<TlsFront> {
  const upstream = new URL(target);
  let handshakes = 0;
  const handshakeErrors: string[] = [];
  const open = new Set<{ destroy(): void }>();
  const server = createServer({ cert: ca.certPem, key: ca.keyPem }, (socket) => {
    handshakes += 1;
    const back = connect(Number(upstream.port), upstream.hostname);
    socket.pipe(back).pipe(socket);
    open.add(socket);
    open.add(back);
    const end = () => {
      socket.destroy();
      back.destroy();
      open.delete(socket);
      open.delete(back);
    };
    socket.on("error", end);
    back.on("error", end);
    socket.on("close", end);
    back.on("close", end);
  });
  server.on("tlsClientError", (error: NodeJS.ErrnoException) => handshakeErrors.push(error.code ?? error.message));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `https://${address}:${port}`,
    get handshakes() {
      return handshakes;
    },
    handshakeErrors,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections would hold close() open.
        for (const socket of open) socket.destroy();
      }),
  };
}
