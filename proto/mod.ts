/**
 * The protocol, as generated TypeScript: message schemas, enums and service descriptors for
 * `jumpstarter.v1`, the `jumpstarter.client.v1` client API (under {@linkcode clientv1}, since
 * several of its message names clash with `jumpstarter.v1`), and `google.rpc.Status` with the
 * standard error details for rich gRPC errors.
 *
 * Regenerate with `deno task gen` after editing a `.proto` file.
 *
 * @example Build and encode a driver call
 * ```ts
 * import { create, toBinary } from "@bufbuild/protobuf";
 * import { DriverCallRequestSchema } from "./mod.ts";
 *
 * const call = create(DriverCallRequestSchema, { uuid: "…", method: "on" });
 * const bytes = toBinary(DriverCallRequestSchema, call);
 * ```
 *
 * @module
 */

export * from "./gen/jumpstarter/v1/common_pb.ts";
export * from "./gen/jumpstarter/v1/kubernetes_pb.ts";
export * from "./gen/jumpstarter/v1/router_pb.ts";
export * from "./gen/jumpstarter/v1/telemetry_pb.ts";
export * from "./gen/jumpstarter/v1/jumpstarter_pb.ts";
export * from "./gen/google/rpc/status_pb.ts";
export * from "./gen/google/rpc/error_details_pb.ts";
/** The `jumpstarter.client.v1` package: ClientService with its Exporter and Lease resources. */
export * as clientv1 from "./gen/jumpstarter/client/v1/client_pb.ts";
export { SESSION_GRACE_KEY } from "./conventions.ts";
