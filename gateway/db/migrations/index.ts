// Ordered list of migrations; TypeORM records which ones ran in its `migrations` table.
import { Initial1763683200000 } from './0001-initial.js';
import { SlaCsatAttachments1779321600000 } from './0002-sla-csat-attachments.js';

export const migrations = [Initial1763683200000, SlaCsatAttachments1779321600000];
