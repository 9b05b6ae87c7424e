// Composite driver: groups child drivers under one name.

export { composite, COMPOSITE_CLIENT, createComposite } from "./composite.ts";
