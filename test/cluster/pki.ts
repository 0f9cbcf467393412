/**
 * The test control plane's certificates and keys, made with the openssl CLI (OpenSSL 3): a CA, the apiserver's serving
 * certificate for the loopback names, an admin client certificate in system:masters, and the service-account
 * signing key pair. All ECDSA P-256, so generation takes milliseconds.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export class OpensslError extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(`openssl failed to make ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "OpensslError";
    this.step = step;
  }
}

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

async function openssl(step: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { timeout: 30_000 });
  } catch (error) {
    throw new OpensslError(step, error);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Writes a fresh PKI into `dir` (created). */
export async function createPki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (name: string) => join(dir, name);
  const pki: Pki = {
    dir,
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    serverCert: p("apiserver.crt"),
    serverKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
  };
  await openssl("the CA", [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    pki.caKey,
    "-out",
    pki.caCert,
    "-days",
    "3650",
    "-subj",
    "/CN=chunkgc-test-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]);
  const signed = (cn: string, extensions: string[]) => [
    "req",
    "-x509",
    ...EC,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-days",
    "3650",
    "-subj",
    cn,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    ...extensions.flatMap((extension) => ["-addext", extension]),
  ];
  await Promise.all([
    openssl("the apiserver certificate", [
      ...signed("/CN=kube-apiserver", [
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default," +
          "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
      ]),
      "-keyout",
      pki.serverKey,
      "-out",
      pki.serverCert,
    ]),
    openssl("the admin client certificate", [
      ...signed("/O=system:masters/CN=chunkgc-admin", [
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=clientAuth",
      ]),
      "-keyout",
      pki.adminKey,
      "-out",
      pki.adminCert,
    ]),
    openssl("the service-account key", [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      pki.serviceAccountKey,
    ]),
  ]);
  await openssl("the service-account public key", [
    "pkey",
    "-in",
    pki.serviceAccountKey,
    "-pubout",
    "-out",
    pki.serviceAccountPub,
  ]);
  return pki;
}

export function base64File(path: string): string {
  return readFileSync(path).toString("base64");
}
