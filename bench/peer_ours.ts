// Benchmark peer on our transport: serves the lean byte-stream echo and GetReport on the lean
// unary path (or, with --generic, both through connect-es), or drives a server with a bulk echo
// and unary round trips.

import process from "node:process";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import {
  ExporterService,
  FrameType,
  RouterService,
  type StreamRequest,
  StreamRequestSchema,
} from "../proto/mod.ts";
import { callUnary, createChannel, leanUnary, openByteStream, serve } from "../transport/mod.ts";
import { echoByteStream, interopReport, interopRoutes } from "../tests/interop/interop_service.ts";
import {
  announceAndWait,
  bulkData,
  type EchoCheck,
  measureEcho,
  measureLatencies,
  parsePeerArgs,
} from "./peer_args.ts";

const args = process.argv.slice(2);
const generic = args.includes("--generic");
const command = parsePeerArgs(args.filter((a) => a !== "--generic"), "peer_ours.ts");

if (command.mode === "serve") {
  const server = await serve({
    address: command.listen,
    routes: interopRoutes,
    byteStream: generic ? undefined : echoByteStream,
    // GetReport as the exporter serves DriverCall: on the lean unary path.
    unary: generic ? undefined : [leanUnary(ExporterService.method.getReport, interopReport)],
    maxMessageBytes: 16 * 1024 * 1024,
  });
  await announceAndWait(() => server.close());
} else {
  const channel = createChannel(command.target, { tls: false, maxMessageBytes: 16 * 1024 * 1024 });
  const data = bulkData(command.mib);
  const chunk = command.chunkKib * 1024;
  await channel.connect(); // dialling is not part of the measurement, as for the other peers

  // One echo of `bytes` through the generic connect-es path or the lean byte path.
  const echo = async (bytes: Uint8Array, check: EchoCheck) => {
    if (generic) {
      const requests = async function* (): AsyncGenerator<StreamRequest> {
        for (let i = 0; i < bytes.length; i += chunk) {
          yield create(StreamRequestSchema, { payload: bytes.subarray(i, i + chunk) });
        }
        yield create(StreamRequestSchema, { frameType: FrameType.GOAWAY });
      };
      for await (const res of createClient(RouterService, channel.transport).stream(requests())) {
        if (res.frameType === FrameType.GOAWAY) break;
        check.update(res.payload);
      }
      return;
    }
    const call = await openByteStream(channel);
    const sending = (async () => {
      for (let i = 0; i < bytes.length; i += chunk) {
        await call.stream.send(bytes.subarray(i, i + chunk));
      }
      await call.stream.close();
    })();
    for await (const piece of call.stream) check.update(piece);
    await sending;
    await call.done;
  };

  const { check, seconds } = await measureEcho(data, echo);
  const client = createClient(ExporterService, channel.transport);
  const latencies = await measureLatencies(
    command.unary,
    generic
      ? () => client.getReport({})
      : () => callUnary(channel, ExporterService.method.getReport, {}),
  );
  channel.close();
  const result = check.result(seconds, latencies);
  console.log(JSON.stringify(result));
}
