// One alert mail (a full pool) for tests and benchmarks that render a mail and need any real one.

import type { AlertMail } from "../../server/core/alerts.ts";

/** An alert about pool `backup` having no space left, as the Notifier would mail it. */
export const POOL_FULL_ALERT: AlertMail = {
  kind: "alert",
  since: "2026-12-03T00:00:00.000Z",
  condition: {
    key: "pool:backup",
    host: "local",
    what: "pool backup",
    where: "backup",
    code: "ZFS_NO_SPACE",
    message: "pool backup has no space left",
    advice: "Free space or tighten keep_backup.",
  },
};
