import { kubernetesService } from "../cluster/service.ts";
import { s3Service } from "../servers/service.ts";
import type { ServiceDefinition } from "./services.ts";

/** The services started for the integration suites, in start order (stopped in reverse). */
export function suiteServices(): ServiceDefinition[] {
  return [s3Service(), kubernetesService()];
}
