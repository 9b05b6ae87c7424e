// How clients and exporters reach a controller or router named by an endpoint string: TLS by
// default (with the config's CA, or `insecure` to accept any certificate), plaintext h2c only
// when the endpoint says so with `http://` or `grpc://`.

import { type Channel, type ChannelOptions, createChannel } from "./channel.ts";

/** The TLS part of a client or exporter config. */
export interface EndpointTls {
  /** CA: PEM, base64 PEM or a file path. */
  ca?: string;
  insecure?: boolean;
}

/** Whether `endpoint` asks for plaintext HTTP/2. */
export function isPlaintextEndpoint(endpoint: string): boolean {
  return /^(http|grpc):\/\//.test(endpoint);
}

/** A channel to `endpoint` with the TLS settings of a config. */
export function endpointChannel(
  endpoint: string,
  tls: EndpointTls,
  options: Omit<ChannelOptions, "tls"> = {},
): Channel {
  return createChannel(endpoint, {
    ...options,
    tls: isPlaintextEndpoint(endpoint) ? false : { ca: tls.ca, insecure: tls.insecure },
  });
}
