import { kubernetesService } from "../cluster/service.ts";
import { s3Service } from "../servers/service.ts";
import type { ServiceDefinition } from "./services.ts";

/**
 * The services started for the integration suites, in start order (stopped in reverse). The cluster comes first: its
 * bridge carries the address at which pods reach this machine, and the S3 servers listen there too.
 */
export function suiteServices(): ServiceDefinition[] {
  return [kubernetesService(), s3Service()];
}
