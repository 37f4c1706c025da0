// TypeORM entities, built from the table descriptions (explicit column types: tsx
// emits no decorator metadata). Hot paths use plain SQL (sql.ts); entities serve
// TypeORM's metadata and the occasional repository query.
import { EntitySchema } from 'typeorm';
import { columnType, tables } from './tables.js';

export const entities = tables.map(
  (def) =>
    new EntitySchema<Record<string, unknown>>({
      name: def.name,
      tableName: def.name,
      columns: Object.fromEntries(
        def.columns.map((col) => [
          col.name,
          {
            type: columnType[col.kind].type as any,
            length: columnType[col.kind].length,
            nullable: !!col.nullable,
            primary: def.primary.includes(col.name),
            default: col.default,
          },
        ]),
      ),
    }),
);
