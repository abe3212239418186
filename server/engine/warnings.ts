// The one way a step of a pass adds a warning to a dataset's record: a warning does not fail the
// dataset, it is shown beside its result.

import type { DatasetRecord } from "../core/model.ts";

/** Appends `text` to the record's warnings, creating the list on the first one. */
export function addWarning(record: Pick<DatasetRecord, "warnings">, text: string): void {
  if (record.warnings) record.warnings.push(text);
  else record.warnings = [text];
}
