// Client of a composite: no methods of its own, its children are what `j` lists.

import { DriverClient, type Verb } from "../framework/mod.ts";

/** Upstream's CompositeClient: a named group of child clients. */
export class CompositeClient extends DriverClient {
  /** A composite has no verbs, only children. */
  override verbs(): Verb[] {
    return [];
  }
}
