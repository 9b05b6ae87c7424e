// The client library: connect to an exporter, get typed clients of its drivers.

export { ALLOW_ENV, AllowList, configuredAllowList, UNSAFE_ENV } from "./allow_list.ts";
export { chooseClientClass, type ClientChoice } from "./client_classes.ts";
export { connectExporter, type ConnectOptions, type ExporterConnection } from "./connect.ts";
export { env, HOST_ENV, NotInShellError } from "./env.ts";
export { DriverCallError, DriverClient } from "../drivers/framework/mod.ts";
export {
  ControllerConnection,
  LeaseError,
  type LeaseInfo,
  LeaseTunnel,
  waitUntilReady,
} from "./leases.ts";
