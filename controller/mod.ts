// The controller: lease rules, identities and tokens, its state store, and the server that runs
// them with the router.

export {
  CONTROLLER_PORT,
  type ControllerServer,
  type ControllerServerOptions,
  dataPaths,
  ROUTER_PORT,
  type RouterServer,
  startControllerServer,
  startRouterServer,
} from "./server.ts";
export { Controller, type ControllerOptions } from "./controller.ts";
export { isOnline, LeaseScheduler, plannedEnd } from "./lease_scheduler.ts";
export {
  formatSelector,
  isEmptySelector,
  labelKeyProblem,
  labelValueProblem,
  matchesSelector,
  normalizeSelector,
  parseSelector,
  SelectorError,
} from "./selector.ts";
export { OidcVerifier, type OidcVerifierOptions, TokenError, TokenIssuer } from "./tokens.ts";
export { parseAccessPolicies, parseGoDuration } from "./access_policy.ts";
export { VERSION_HEADER, versionProblem } from "./version_check.ts";
export * from "./store/mod.ts";
