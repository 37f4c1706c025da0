// Ordered list of migrations; TypeORM records which ones ran in its `migrations` table.
import { Initial1763683200000 } from './0001-initial.js';

export const migrations = [Initial1763683200000];
