// Ordered list of migrations; TypeORM records which ones ran in its `migrations` table.
import { Initial1763683200000 } from './0001-initial.js';
import { SlaCsatAttachments1779321600000 } from './0002-sla-csat-attachments.js';
import { SlaListColumns1779408000000 } from './0003-sla-list-columns.js';
import { ListIndexes1779494400000 } from './0004-list-indexes.js';
import { SearchIndex1779580800000 } from './0005-search-index.js';
import { WiderColumns1779667200000 } from './0006-wider-columns.js';
import { BatchedSearchIndex1779753600000 } from './0007-batched-search-index.js';

export const migrations = [Initial1763683200000, SlaCsatAttachments1779321600000, SlaListColumns1779408000000, ListIndexes1779494400000, SearchIndex1779580800000, WiderColumns1779667200000, BatchedSearchIndex1779753600000];
