// A small ExporterService + RouterService used to prove that independent gRPC implementations
// (grpc-js, Python grpcio) can call our server: unary, server-streaming, bidi and error details.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  type DriverCallRequest,
  type DriverCallResponseSchema,
  ErrorInfoSchema,
  ExporterService,
  FrameType,
  RouterService,
  type StreamRequest,
  StreamResponseSchema,
} from "../../proto/mod.ts";
import { type ByteStreamHandler, leanUnary, type LeanUnaryMethod } from "../../transport/mod.ts";

/** What GetReport answers, for tests to compare against. */
export const INTEROP_REPORT = {
  uuid: "0b8f4c5e-2f1e-4d3a-9c77-6a1d2e3f4a5b",
  labels: { "jumpstarter.dev/name": "interop-bench" },
  motd: "welcome to the interop bench",
  driverUuid: "5c1d7e2a-8b9f-4e60-a1b2-c3d4e5f60718",
  driverClient: "jumpstarter_driver_power.client.PowerClient",
} as const;

/** The error that DriverCall method "fail" raises, with an ErrorInfo detail. */
export const INTEROP_ERROR = {
  code: Code.FailedPrecondition,
  message: "power supply is in a fault state",
  reason: "POWER_FAULT",
  domain: "jumpstarter.dev",
} as const;

/** The report GetReport answers, built from INTEROP_REPORT. */
export function interopReport() {
  return {
    uuid: INTEROP_REPORT.uuid,
    labels: { ...INTEROP_REPORT.labels },
    motd: INTEROP_REPORT.motd,
    reports: [{
      uuid: INTEROP_REPORT.driverUuid,
      labels: {
        "jumpstarter.dev/client": INTEROP_REPORT.driverClient,
        "jumpstarter.dev/name": "power",
      },
      description: "interop power switch",
      methodsDescription: { on: "power on", off: "power off" },
    }],
  };
}

// "echo" returns its first argument; "fail" raises INTEROP_ERROR with an ErrorInfo detail.
function driverCall(req: DriverCallRequest): MessageInitShape<typeof DriverCallResponseSchema> {
  if (req.method === "echo") return { uuid: req.uuid, result: req.args[0] };
  if (req.method === "fail") {
    throw new ConnectError(INTEROP_ERROR.message, INTEROP_ERROR.code, undefined, [{
      desc: ErrorInfoSchema,
      value: {
        reason: INTEROP_ERROR.reason,
        domain: INTEROP_ERROR.domain,
        metadata: { driver: "power" },
      },
    }]);
  }
  throw new ConnectError(`method ${req.method} not found`, Code.NotFound);
}

const exporter: Partial<ServiceImpl<typeof ExporterService>> = {
  getReport: interopReport,
  driverCall,
  // "count" with argument n streams the numbers 0..n-1.
  async *streamingDriverCall(req) {
    const first = req.args[0]?.kind;
    const n = first?.case === "numberValue" ? first.value : 0;
    for (let i = 0; i < n; i++) {
      yield { uuid: req.uuid, result: { kind: { case: "numberValue", value: i } } };
    }
  },
};

/** Echo over connect-es (the generic path), for comparison with the lean one. */
const router: ServiceImpl<typeof RouterService> = {
  async *stream(requests: AsyncIterable<StreamRequest>) {
    for await (const frame of requests) {
      if (frame.frameType === FrameType.GOAWAY) break;
      if (frame.frameType !== FrameType.DATA) continue;
      yield create(StreamResponseSchema, { payload: frame.payload });
    }
    yield create(StreamResponseSchema, { frameType: FrameType.GOAWAY });
  },
};

/** Registers the interop services. */
export function interopRoutes(r: ConnectRouter): void {
  r.service(ExporterService, exporter);
  r.service(RouterService, router);
}

/** DriverCall on the lean unary path, for servers that also take `echoByteStream`. */
export const interopUnary: LeanUnaryMethod[] = [
  leanUnary(ExporterService.method.driverCall, driverCall),
];

/** Echo over the lean byte path: every DATA payload comes back, GOAWAY is answered in kind. */
export const echoByteStream: ByteStreamHandler = async ({ stream }) => {
  for await (const chunk of stream) await stream.send(chunk);
  await stream.close();
};
