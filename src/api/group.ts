/** Names of the `chunkgc.io` API group: the resource, its labels and annotations. One place, used by CRD and operator. */

export const GROUP = "chunkgc.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "GarbageCollection";
export const LIST_KIND = "GarbageCollectionList";
export const PLURAL = "garbagecollections";
export const SINGULAR = "garbagecollection";
export const SHORT_NAMES = ["chunkgc"] as const;
export const CATEGORIES = ["pbs", "backup"] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Annotation users set on a GarbageCollection: every new value starts one run. */
export const RUN_REQUESTED_ANNOTATION = `${GROUP}/run-requested`;

/** Labels the operator puts on the Jobs and Pods it creates (selectors for adoption and history cleanup). */
export const LABELS = {
  name: "app.kubernetes.io/name",
  component: "app.kubernetes.io/component",
  managedBy: "app.kubernetes.io/managed-by",
  garbageCollection: `${GROUP}/garbagecollection`,
  garbageCollectionUid: `${GROUP}/garbagecollection-uid`,
  trigger: `${GROUP}/trigger`,
  datastore: `${GROUP}/datastore`,
} as const;

/** Annotations on the Jobs the operator creates: what started the run. */
export const JOB_ANNOTATIONS = {
  scheduledTime: `${GROUP}/scheduled-time`,
  runRequest: `${GROUP}/run-request`,
  generation: `${GROUP}/generation`,
} as const;

export const APP_NAME = "chunkgc";
export const RUN_COMPONENT = "gc-run";
export const MANAGER_NAME = "chunkgc-operator";
