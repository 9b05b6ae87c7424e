// How clients and exporters reach a controller or router named by an endpoint string: TLS by
// default (with the config's CA, or `insecure` to accept any certificate), plaintext h2c only
// when the endpoint says so with `http://` or `grpc://`. Keepalive pings follow the config's
// `grpcOptions` (upstream's channel arguments), so a dead or partitioned link is noticed.

import { type Channel, type ChannelOptions, createChannel } from "./channel.ts";

/** The TLS part of a client or exporter config. */
export interface EndpointTls {
  /** CA: PEM, base64 PEM or a file path. */
  ca?: string;
  insecure?: boolean;
}

/** Upstream's default keepalive (`grpc.keepalive_time_ms`), and how long a ping may go unanswered. */
const KEEPALIVE_MS = 20_000;

/** Whether `endpoint` asks for plaintext HTTP/2. */
export function isPlaintextEndpoint(endpoint: string): boolean {
  return /^(http|grpc):\/\//.test(endpoint);
}

/** The keepalive of `grpcOptions` (`grpc.keepalive_time_ms`, `grpc.keepalive_timeout_ms`). */
export function keepaliveOf(grpcOptions: Record<string, string | number> = {}) {
  const number = (key: string, fallback: number) => {
    const value = Number(grpcOptions[key]);
    return Number.isFinite(value) && value > 0 ? value : fallback;
  };
  return {
    intervalMs: number("grpc.keepalive_time_ms", KEEPALIVE_MS),
    timeoutMs: number("grpc.keepalive_timeout_ms", KEEPALIVE_MS),
  };
}

/** A channel to `endpoint` with the TLS settings and channel arguments of a config. */
export function endpointChannel(
  endpoint: string,
  tls: EndpointTls,
  options: Omit<ChannelOptions, "tls" | "keepalive"> & {
    grpcOptions?: Record<string, string | number>;
  } = {},
): Channel {
  const { grpcOptions, ...rest } = options;
  return createChannel(endpoint, {
    ...rest,
    keepalive: keepaliveOf(grpcOptions),
    tls: isPlaintextEndpoint(endpoint) ? false : { ca: tls.ca, insecure: tls.insecure },
  });
}
