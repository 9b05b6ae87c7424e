// Benchmark baseline: the same echo as plain node:http2 streams with no gRPC framing at all,
// the ceiling that any gRPC path on this runtime can approach.

import * as http2 from "node:http2";
import * as net from "node:net";
import { existsSync, unlinkSync } from "node:fs";
import process from "node:process";
import { parseAddress } from "../transport/mod.ts";
import { FLOW_CONTROL_SETTINGS, widenConnectionWindow } from "../transport/flow_control.ts";
import {
  announceAndWait,
  bulkData,
  type EchoCheck,
  measureEcho,
  measureLatencies,
  parsePeerArgs,
} from "./peer_args.ts";

const command = parsePeerArgs(process.argv.slice(2), "peer_raw_http2.ts");

if (command.mode === "serve") {
  const server = http2.createServer({ settings: FLOW_CONTROL_SETTINGS });
  server.on("session", widenConnectionWindow);
  server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
    stream.respond({ ":status": 200 });
    if (headers[":path"] === "/echo") stream.pipe(stream);
    else stream.on("end", () => stream.end("pong")).resume();
  });
  const address = parseAddress(command.listen);
  if (address.kind === "unix" && existsSync(address.path)) unlinkSync(address.path);
  await new Promise<void>((resolve) => {
    if (address.kind === "unix") server.listen(address.path, resolve);
    else server.listen(address.port, address.host, resolve);
  });
  await announceAndWait(() => new Promise((resolve) => server.close(() => resolve())));
} else {
  const address = parseAddress(command.target);
  const socket = address.kind === "unix"
    ? net.connect(address.path)
    : net.connect(address.port, address.host);
  const session = http2.connect("http://localhost", {
    createConnection: () => socket,
    settings: FLOW_CONTROL_SETTINGS,
  });
  await new Promise((resolve) => session.once("connect", resolve));
  widenConnectionWindow(session);
  const data = bulkData(command.mib);
  const chunk = command.chunkKib * 1024;
  const echo = async (bytes: Uint8Array, check: EchoCheck) => {
    const stream = session.request({ ":method": "POST", ":path": "/echo" });
    const reading = (async () => {
      for await (const piece of stream) check.update(piece);
    })();
    for (let i = 0; i < bytes.length; i += chunk) {
      if (!stream.write(bytes.subarray(i, i + chunk))) {
        await new Promise((resolve) => stream.once("drain", resolve));
      }
    }
    stream.end();
    await reading;
  };
  const { check, seconds } = await measureEcho(data, echo);
  const latencies = await measureLatencies(command.unary, async () => {
    const ping = session.request({ ":method": "POST", ":path": "/ping" });
    ping.end("ping");
    for await (const _ of ping) { /* read the pong */ }
  });
  // Like our client: close the socket, not the session, so no GOAWAY reaches a Deno server
  // (see docs/transport.md).
  socket.destroy();
  session.destroy();
  const result = check.result(seconds, latencies);
  console.log(JSON.stringify(result));
}
