export {
  junkKeys,
  neighbourKeys,
  neighbourStoreName,
  type ObjectRole,
  type PlannedObject,
  plannedObjects,
} from "./objects.ts";
export {
  AmbiguousCutoffError,
  type ExpectedCounters,
  type ExpectedOutcome,
  expectedOutcome,
  type OracleInput,
  type UploadWindow,
} from "./oracle.ts";
export { type SeedParams, type SeedParamsInput, SeedParamsSchema } from "./params.ts";
export { type DatastorePlan, type PlannedSnapshot, planDatastore } from "./plan.ts";
export { type SeedOptions, type SeedProgress, type SeedReport, seedDatastore } from "./writer.ts";
