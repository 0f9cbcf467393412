/** The operator's controller: start it as a library (tests, embedding) or through `chunkgc operator`. */
export { InvalidRunEnvError, type OperatorOptions, type RunningOperator, startOperator } from "./operator.ts";
