import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Param = string | number | null;
export type Row = Record<string, any>;

/**
 * The smallest SQL surface both stores share. SQL is written once with `?` placeholders in the
 * common subset of SQLite and PostgreSQL; the PostgreSQL adapter renumbers them.
 */
export interface Db {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined>;
  run(sql: string, params?: Param[]): Promise<number>;
  /** Runs fn in one transaction; fn must only use the Db it is given. */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A promise chain used as a mutex: SQLite has one connection, so transactions must not interleave. */
class Mutex {
  #last: Promise<unknown> = Promise.resolve();
  lock<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#last.then(fn, fn);
    this.#last = next.catch(() => undefined);
    return next;
  }
}

export async function openSqlite(file: string): Promise<Db> {
  const { default: Database } = await import('better-sqlite3');
  mkdirSync(dirname(file), { recursive: true });
  const conn = new Database(file);
  conn.pragma('journal_mode = WAL');
  conn.pragma('synchronous = NORMAL');
  conn.pragma('busy_timeout = 5000');
  conn.pragma('foreign_keys = ON');
  const cache = new Map<string, any>();
  const stmt = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = conn.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const mutex = new Mutex();
  const base = {
    dialect: 'sqlite' as const,
    async all<T>(sql: string, params: Param[] = []) {
      return stmt(sql).all(...params) as T[];
    },
    async get<T>(sql: string, params: Param[] = []) {
      return stmt(sql).get(...params) as T | undefined;
    },
    async run(sql: string, params: Param[] = []) {
      const s = stmt(sql);
      if (!s.reader) return s.run(...params).changes as number;
      return s.all(...params).length;
    },
    async close() {
      conn.close();
    },
  };
  const db: Db = {
    ...base,
    tx(fn) {
      return mutex.lock(async () => {
        conn.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn({ ...base, tx: (f) => f(db), close: base.close });
          conn.exec('COMMIT');
          return out;
        } catch (e) {
          conn.exec('ROLLBACK');
          throw e;
        }
      });
    },
  };
  // Statements outside tx() may run between the awaits of a transaction on the one connection;
  // they are single statements, so they simply join it. Multi-statement work always uses tx().
  return db;
}

function pgSql(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export async function openPostgres(url: string): Promise<Db> {
  const { default: pg } = await import('pg');
  // BIGINT counts come back as strings by default; ours fit in a double.
  pg.types.setTypeParser(20, (v: string) => Number(v));
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  const wrap = (
    q: (sql: string, p: Param[]) => Promise<{ rows: Row[]; rowCount: number | null }>,
  ): Omit<Db, 'tx' | 'close'> => ({
    dialect: 'postgres',
    async all<T>(sql: string, params: Param[] = []) {
      return (await q(pgSql(sql), params)).rows as T[];
    },
    async get<T>(sql: string, params: Param[] = []) {
      return (await q(pgSql(sql), params)).rows[0] as T | undefined;
    },
    async run(sql: string, params: Param[] = []) {
      return (await q(pgSql(sql), params)).rowCount ?? 0;
    },
  });
  const base = wrap((sql, p) => pool.query(sql, p));
  return {
    ...base,
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const inner: Db = {
          ...wrap((sql, p) => client.query(sql, p)),
          tx: (f) => f(inner),
          close: async () => undefined,
        };
        const out = await fn(inner);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
