/**
 * The test cluster's certificates and keys, made with the openssl CLI (OpenSSL 3): a CA, the apiserver's serving
 * certificate (loopback, the node address and the `kubernetes` Service's names), an admin client certificate in
 * system:masters, the node's identities (kubelet client `system:node:<name>` in system:nodes and its serving
 * certificate), kube-proxy's (`system:kube-proxy`), the apiserver's client for the kubelet, and the service-account
 * signing key pair. All ECDSA P-256, so generation takes milliseconds. No bootstrap tokens, no CSR flow.
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
  readonly kubeletClientCert: string;
  readonly kubeletClientKey: string;
  readonly kubeletServingCert: string;
  readonly kubeletServingKey: string;
  readonly apiserverKubeletClientCert: string;
  readonly apiserverKubeletClientKey: string;
  readonly kubeProxyCert: string;
  readonly kubeProxyKey: string;
}

/** The names the certificates carry. */
export interface PkiNames {
  /** The node's name (kubelet identity system:node:<name>). */
  readonly nodeName: string;
  /** The node's address: the bridge gateway the apiserver and the kubelet serve on. */
  readonly nodeAddress: string;
  /** The `kubernetes` Service's cluster IP (first address of the service range). */
  readonly serviceAddress: string;
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
export async function createPki(dir: string, names: PkiNames): Promise<Pki> {
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
    kubeletClientCert: p("kubelet-client.crt"),
    kubeletClientKey: p("kubelet-client.key"),
    kubeletServingCert: p("kubelet-serving.crt"),
    kubeletServingKey: p("kubelet-serving.key"),
    apiserverKubeletClientCert: p("apiserver-kubelet-client.crt"),
    apiserverKubeletClientKey: p("apiserver-kubelet-client.key"),
    kubeProxyCert: p("kube-proxy.crt"),
    kubeProxyKey: p("kube-proxy.key"),
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
        `subjectAltName=IP:127.0.0.1,IP:${names.serviceAddress},IP:${names.nodeAddress},DNS:localhost,` +
          "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
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
    ...clientCertificates(signed, pki, names),
    openssl("the kubelet serving certificate", [
      ...signed(`/CN=${names.nodeName}`, [
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        `subjectAltName=IP:${names.nodeAddress},DNS:${names.nodeName}`,
      ]),
      "-keyout",
      pki.kubeletServingKey,
      "-out",
      pki.kubeletServingCert,
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

function clientCertificates(
  signed: (cn: string, extensions: string[]) => string[],
  pki: Pki,
  names: PkiNames,
): Promise<void>[] {
  const client = ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth"];
  const make = (step: string, subject: string, cert: string, key: string) =>
    openssl(step, [...signed(subject, client), "-keyout", key, "-out", cert]);
  return [
    make(
      "the kubelet client certificate",
      `/O=system:nodes/CN=system:node:${names.nodeName}`,
      pki.kubeletClientCert,
      pki.kubeletClientKey,
    ),
    make(
      "the apiserver's kubelet client certificate",
      "/O=system:masters/CN=kube-apiserver-kubelet-client",
      pki.apiserverKubeletClientCert,
      pki.apiserverKubeletClientKey,
    ),
    make("the kube-proxy client certificate", "/CN=system:kube-proxy", pki.kubeProxyCert, pki.kubeProxyKey),
  ];
}

export function base64File(path: string): string {
  return readFileSync(path).toString("base64");
}
