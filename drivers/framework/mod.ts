// The driver framework: what a driver declares, how its values travel, how its errors map to
// gRPC codes, and how a type builds an instance from config.

export { Args } from "./args.ts";
export {
  byteStream,
  type ByteStreamMethod,
  type CallContext,
  type Driver,
  type DriverLog,
  type DriverMethod,
  streaming,
  type StreamingMethod,
  unary,
  type UnaryMethod,
} from "./driver.ts";
export {
  DeviceUnavailableError,
  DriverError,
  DriverTimeoutError,
  InvalidArgumentError,
  NotImplementedError,
  toDriverStatus,
} from "./errors.ts";
export type { DriverContext, DriverFactory } from "./factory.ts";
export {
  CLIENT_LABEL,
  DriverCallError,
  DriverClient,
  type DriverClientClass,
  type DriverClientInit,
  NAME_LABEL,
  stdioDuplex,
  type Verb,
  type VerbIo,
} from "./driver_client.ts";
export { fromValue, type JsonValue, toJsonValue, toValue } from "./value.ts";
