/**
 * What the demo applies, as plain objects (printed as YAML for the user and validated by the unit tests against the
 * CRD's schema and the seed command's options).
 */

export const DEMO = {
  release: "chunkgc",
  operatorNamespace: "chunkgc-system",
  namespace: "pbs-demo",
  name: "pbs-demo",
  secret: "pbs-s3",
  bucket: "pbs-demo",
  store: "store1",
  /** The resource's default grace period, as in Proxmox Backup Server. */
  gracePeriod: "24h5m",
} as const;

/**
 * The datastore the seed writes: 12 snapshots sharing chunks, the garbage of pruned ones, corrupt copies, an abandoned
 * backup. About 750 small objects: seeding takes less than installing the chart, which runs meanwhile.
 */
export const SEED_ARGS: readonly string[] = [
  ["--chunks", "500"],
  ["--garbage", "200"],
  ["--snapshots", "12"],
  ["--groups", "3"],
  ["--namespaces", "2"],
  ["--abandoned", "1"],
  ["--bad-with-copy", "2"],
  ["--bad-unreferenced", "3"],
].flat();

export interface S3Endpoint {
  readonly endpoint: string;
  readonly region: string;
}

export function restrictedNamespace(name: string) {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
      },
    },
  };
}

/** No schedule: the operator runs it once per spec change (a dry run first, then the patch to dryRun: false). */
export function demoGarbageCollection(s3: S3Endpoint, dryRun: boolean) {
  return {
    apiVersion: "chunkgc.io/v1alpha1",
    kind: "GarbageCollection",
    metadata: { name: DEMO.name, namespace: DEMO.namespace },
    spec: {
      datastore: {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          bucket: DEMO.bucket,
          store: DEMO.store,
          pathStyle: true,
          credentialsSecretRef: { name: DEMO.secret },
        },
      },
      markerCache: { volumeClaimTemplate: { storage: "1Gi", whenDeleted: "Delete" } },
      gracePeriod: DEMO.gracePeriod,
      dryRun,
    },
  };
}
