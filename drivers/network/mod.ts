// Network drivers: TCP, UDP, Unix socket and echo targets, and their client with port forwarding.

export {
  createEchoNetwork,
  createTcpNetwork,
  createUdpNetwork,
  createUnixNetwork,
  NETWORK_CLIENT,
} from "./network.ts";
export { type Forward, NetworkClient } from "./client.ts";
