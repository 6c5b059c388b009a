//! PostgreSQL: for replicas. Every replica writes through its own connection; the rules in
//! `store/mod.rs` (unique claims, conditional updates) keep concurrent writers consistent, and an
//! advisory lock serialises migrations when replicas start together.

use super::{Db, StoreError, Value};
use crate::config::Secret;
use postgres::types::{ToSql, Type};

pub struct Postgres {
    client: postgres::Client,
    /// Prepared once per SQL text: a prepare is a round trip.
    statements: std::collections::HashMap<String, postgres::Statement>,
}

fn err(e: postgres::Error) -> StoreError {
    // The server's own message (constraint, syntax) is in the source.
    match e.as_db_error() {
        Some(db) => StoreError::Db(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Db(e.to_string()),
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, …` (our SQL has no `?` inside literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter converted to the type the server declared for it: postgres refuses, say, an
/// `Option<String>` NULL for a DOUBLE PRECISION column, or an i64 for an INTEGER one.
enum Param {
    NullI64(Option<i64>),
    NullF64(Option<f64>),
    NullText(Option<String>),
    I32(i32),
    I64(i64),
    F64(f64),
    Text(String),
}

impl Param {
    fn of(v: &Value, ty: &Type) -> Result<Param, StoreError> {
        let mismatch = || StoreError::Db(format!("parameter {v:?} does not fit a {ty} column"));
        Ok(match v {
            Value::Null if *ty == Type::INT8 || *ty == Type::INT4 => Param::NullI64(None),
            Value::Null if *ty == Type::FLOAT8 => Param::NullF64(None),
            Value::Null => Param::NullText(None),
            Value::I64(i) if *ty == Type::INT4 => Param::I32(i32::try_from(*i).map_err(|_| mismatch())?),
            Value::I64(i) if *ty == Type::FLOAT8 => Param::F64(*i as f64),
            Value::I64(i) => Param::I64(*i),
            Value::F64(f) if *ty == Type::FLOAT8 => Param::F64(*f),
            Value::F64(_) => return Err(mismatch()),
            Value::Text(s) => Param::Text(s.clone()),
        })
    }
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::NullI64(n) => n,
            Param::NullF64(n) => n,
            Param::NullText(n) => n,
            Param::I32(i) => i,
            Param::I64(i) => i,
            Param::F64(f) => f,
            Param::Text(s) => s,
        }
    }
}

impl Postgres {
    pub fn open(url: &str, password: Option<&Secret>) -> Result<Postgres, StoreError> {
        let open_err = |why: String| StoreError::Open {
            target: url.to_string(),
            why,
        };
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| open_err(e.to_string()))?;
        if let Some(p) = password {
            config.password(p.expose());
        }
        config.connect_timeout(std::time::Duration::from_secs(10));
        let client = config.connect(postgres::NoTls).map_err(|e| open_err(e.to_string()))?;
        Ok(Postgres {
            client,
            statements: Default::default(),
        })
    }
}

impl Postgres {
    fn bind(&mut self, sql: &str, params: &[Value]) -> Result<(postgres::Statement, Vec<Param>), StoreError> {
        let stmt = match self.statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare(&numbered(sql)).map_err(err)?;
                self.statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        if stmt.params().len() != params.len() {
            return Err(StoreError::Db(format!(
                "{} parameters for {} placeholders",
                params.len(),
                stmt.params().len()
            )));
        }
        let owned = params
            .iter()
            .zip(stmt.params())
            .map(|(v, ty)| Param::of(v, ty))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stmt, owned))
    }
}

impl Db for Postgres {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let (stmt, owned) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(Param::as_sql).collect();
        self.client.execute(&stmt, &refs).map_err(err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        let (stmt, owned) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(Param::as_sql).collect();
        let rows = self.client.query(&stmt, &refs).map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let t = col.type_();
                let v = if *t == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i).map_err(err)?.map(Value::I64)
                } else if *t == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(|v| Value::I64(v.into()))
                } else if *t == Type::FLOAT8 {
                    row.try_get::<_, Option<f64>>(i).map_err(err)?.map(Value::F64)
                } else if *t == Type::TEXT || *t == Type::VARCHAR {
                    row.try_get::<_, Option<String>>(i).map_err(err)?.map(Value::Text)
                } else {
                    return Err(StoreError::Db(format!("column {} has unexpected type {t}", col.name())));
                };
                values.push(v.unwrap_or(Value::Null));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(err)
    }

    fn ddl(&self, template: &str) -> String {
        template
            .replace("{id}", "BIGSERIAL PRIMARY KEY")
            .replace("{real}", "DOUBLE PRECISION")
            .replace("{bigint}", "BIGINT")
    }

    fn lock_migrations(&mut self) -> Result<(), StoreError> {
        // Released at the end of the migration's transaction.
        self.client
            .batch_execute("SELECT pg_advisory_xact_lock(7243019)")
            .map_err(err)
    }
}
