// A thin SQL layer over the drivers TypeORM opened. TypeORM owns the connection,
// the entities and the migrations; the hot paths run plain parameterised SQL here
// (prepared-statement cache on SQLite, the mysql2 pool on MySQL), without ORM overhead.
// Placeholders are `?` on both dialects. Times are BIGINT milliseconds, JSON is TEXT.

export type Dialect = 'sqlite' | 'mysql';
export type Param = string | number | bigint | boolean | null | undefined | Buffer;

export interface Sql {
  readonly dialect: Dialect;
  /** Rows of a SELECT. */
  query<T = Record<string, any>>(sql: string, params?: Param[]): Promise<T[]>;
  /** INSERT / UPDATE / DELETE: how many rows changed. */
  execute(sql: string, params?: Param[]): Promise<{ affected: number }>;
  /**
   * A write whose outcome the caller does not read (no affected count, no error handled
   * on the spot). Inside a MySQL transaction it is held and sent with the transaction's
   * next statement or its COMMIT, several statements in one round trip; its failure
   * fails that statement, and so the transaction. Elsewhere it runs before resolving.
   * Statement order within the transaction is unchanged.
   */
  defer(sql: string, params?: Param[]): Promise<void>;
  /** Runs fn in one transaction (committed when it resolves, rolled back when it throws). Nested calls join the outer one. */
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  /** `INSERT IGNORE` / `INSERT OR IGNORE` prefix for this dialect. */
  insertIgnore(): string;
  /** True when err is a unique-key violation. */
  isUniqueViolation(err: unknown): boolean;
}
