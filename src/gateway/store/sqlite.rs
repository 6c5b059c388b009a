//! SQLite (bundled): the default, one file beside the gateway. WAL so the HTTP workers read while
//! the writer writes; `synchronous = FULL` because a batch is acknowledged to the broker right
//! after its commit, and an acknowledged message must survive a power cut.

use super::{Db, StoreError, Value};
use rusqlite::types::Value as SqlValue;
use std::path::Path;

pub struct Sqlite {
    conn: rusqlite::Connection,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::I64(i) => SqlValue::Integer(*i),
        Value::F64(f) => SqlValue::Real(*f),
        Value::Text(s) => SqlValue::Text(s.clone()),
    }
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let open_err = |why: String| StoreError::Open {
            target: path.display().to_string(),
            why,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| open_err(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Sqlite { conn })
    }
}

impl Db for Sqlite {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(err)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get::<_, SqlValue>(i).map_err(err)? {
                    SqlValue::Null => Value::Null,
                    SqlValue::Integer(v) => Value::I64(v),
                    SqlValue::Real(v) => Value::F64(v),
                    SqlValue::Text(s) => Value::Text(s),
                    SqlValue::Blob(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE: take the write lock up front, so a transaction never fails half way
        // on a lock another connection holds.
        let sql = if sql == "BEGIN" { "BEGIN IMMEDIATE" } else { sql };
        self.conn.execute_batch(sql).map_err(err)
    }

    fn ddl(&self, template: &str) -> String {
        template
            .replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{real}", "REAL")
            .replace("{bigint}", "INTEGER")
    }

    fn lock_migrations(&mut self) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE already holds the only write lock.
        Ok(())
    }
}
