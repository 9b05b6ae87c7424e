// RouterService.Stream: pairs a client's and an exporter's streams and splices them.

export { Router, type RouterGrant, type RouterOptions } from "./router.ts";
