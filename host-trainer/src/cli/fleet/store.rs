//! The fleet database: SQLite (a file, no set-up) or PostgreSQL (a URL),
//! behind one small interface, so that the schema, its migrations and the
//! queries are written once.
//!
//! Queries are written with PostgreSQL's numbered parameters (`$1`); for
//! SQLite they become `?1`, its own numbered form. Every integer column is
//! a `BIGINT` and every real one a `DOUBLE PRECISION`, so that both
//! engines hand back the same Rust types.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The schema's migrations, in order: migration `i` takes a database from
/// version `i` to `i + 1` (`vigie_schema` records the version). Both
/// engines run the same SQL. The first creates nothing that is already
/// there, so that a database written before versions were recorded is
/// taken as version 1.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS models (
    model BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    inputs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    device BIGINT NOT NULL,
    boot BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    model BIGINT NOT NULL,
    step BIGINT NOT NULL,
    detector BIGINT,
    feature BIGINT,
    direction BIGINT,
    size DOUBLE PRECISION,
    start_step BIGINT,
    end_step BIGINT,
    steps BIGINT NOT NULL,
    abstentions BIGINT NOT NULL,
    alarms TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (device, model, boot, sequence)
);
"];

/// The advisory lock PostgreSQL migrations hold (any number of vigie's own).
const MIGRATION_LOCK: i64 = 0x7669_6769;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// A query parameter, typed even when null (PostgreSQL checks a null's
/// type against its column).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A `BIGINT`.
    Int(Option<i64>),
    /// A `DOUBLE PRECISION`.
    Real(Option<f64>),
    /// A `TEXT`.
    Text(String),
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A text.
    Text(String),
}

impl Value {
    /// The integer, `None` for NULL or another type.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The real (an integer converted), `None` for NULL or a text.
    pub fn real(&self) -> Option<f64> {
        match self {
            Value::Real(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The text, empty for anything else.
    pub fn text(&self) -> &str {
        match self {
            Value::Text(s) => s,
            _ => "",
        }
    }
}

/// One row read back.
pub type Row = Vec<Value>;

/// An open fleet database.
pub enum Store {
    /// A SQLite file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL server, with the statements it has prepared.
    Postgres(Box<Postgres>),
}

/// Statements a PostgreSQL connection keeps prepared at most.
const PREPARED_MAX: usize = 32;

/// A PostgreSQL connection and its prepared statements, by SQL text.
pub struct Postgres {
    url: String,
    client: postgres::Client,
    prepared: HashMap<String, postgres::Statement>,
}

/// Refuses a database name that looks like a mistyped PostgreSQL URL
/// rather than a file (`postgress://`, `pg://`, `postgresql:user@host`),
/// before a SQLite file of that name is created.
pub fn check_name(db: &str) -> Result<()> {
    if is_postgres(db) {
        return Ok(());
    }
    let lower = db.to_ascii_lowercase();
    let scheme = ["postgres:", "postgresql:", "pg:"]
        .iter()
        .any(|s| lower.starts_with(s));
    if db.contains("://") || scheme {
        bail!(
            "--db {db}: not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE, in lower case) nor a SQLite file name"
        );
    }
    if db.contains('=') {
        bail!(
            "--db {db}: this looks like a PostgreSQL key=value connection string; give a URL (postgres://USER@HOST:PORT/DATABASE) or a SQLite file name"
        );
    }
    Ok(())
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl Store {
    /// Opens `db` (a `postgres://` URL, or a SQLite file created when
    /// missing) to write, and brings its schema to [`SCHEMA_VERSION`]. A
    /// SQLite file that holds other tables and none of the fleet's is
    /// refused: the fleet's are not added to someone else's database.
    pub fn open(db: &str) -> Result<Store> {
        check_name(db)?;
        let mut store = Self::connect(db, true)?;
        if let Store::Sqlite(_) = store {
            let version = store
                .version()
                .with_context(|| format!("--db {db}: not a SQLite database"))?;
            // Tables that are not the fleet's: any other name, or a
            // `reports` or `models` table without the fleet's columns.
            let others = store.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
                 AND name NOT IN ('vigie_schema', 'models', 'reports')",
                &[],
            )? + store.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'reports'
                 AND (SELECT COUNT(*) FROM pragma_table_info('reports')
                      WHERE name IN ('device', 'model', 'boot', 'sequence', 'received')) < 5",
                &[],
            )? + store.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'models'
                 AND (SELECT COUNT(*) FROM pragma_table_info('models')
                      WHERE name IN ('model', 'name', 'inputs')) < 3",
                &[],
            )?;
            if version == 0 && others > 0 {
                bail!(
                    "--db {db}: this SQLite database holds other tables and no fleet reports; give a new file (such as fleet.db) or a vigie fleet database"
                );
            }
        }
        store
            .migrate()
            .with_context(|| format!("{}: cannot bring the tables up to date", redact(db)))?;
        Ok(store)
    }

    /// Opens an existing `db` to read (a SQLite file read-only; on
    /// PostgreSQL a role that may only read is enough): its schema must
    /// be this build's.
    pub fn open_to_read(db: &str) -> Result<Store> {
        check_name(db)?;
        if !is_postgres(db) && !Path::new(db).exists() {
            bail!("{db}: no such database; run `vigie fleet ingest --db {db} --from FRAMES` first");
        }
        let mut store = Self::connect(db, false)?;
        let version = store
            .version()
            .with_context(|| format!("--db {}: not a vigie fleet database", redact(db)))?;
        if version == 0 {
            bail!(
                "--db {}: holds no fleet reports yet; store some with `vigie fleet ingest --db {} --from FRAMES`",
                redact(db),
                redact(db)
            );
        }
        if version < SCHEMA_VERSION {
            bail!(
                "{}: its tables are version {version}, this vigie reads version {SCHEMA_VERSION}; bring them up to date with `vigie fleet ingest --db {} --from /dev/null`",
                redact(db),
                redact(db)
            );
        }
        if version > SCHEMA_VERSION {
            bail!(
                "{}: its tables are version {version}, newer than this vigie's ({SCHEMA_VERSION}); use a newer vigie",
                redact(db)
            );
        }
        Ok(store)
    }

    fn connect(db: &str, write: bool) -> Result<Store> {
        if is_postgres(db) {
            let client = postgres::Client::connect(db, postgres::NoTls).with_context(|| {
                format!(
                    "{}: cannot connect to PostgreSQL; is the server running, and does the database exist (createdb)?",
                    redact(db)
                )
            })?;
            return Ok(Store::Postgres(Box::new(Postgres {
                url: db.to_owned(),
                client,
                prepared: HashMap::new(),
            })));
        }
        use rusqlite::OpenFlags;
        let access = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        };
        if let Some(dir) = Path::new(db).parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                bail!(
                    "--db {db}: the folder {} does not exist; create it, or give another path",
                    dir.display()
                );
            }
        }
        if Path::new(db).is_dir() {
            bail!("--db {db}: that is a folder; give a database file (such as {db}/fleet.db)");
        }
        let c = rusqlite::Connection::open_with_flags(
            Path::new(db),
            access | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("--db {db}: cannot open the database"))?;
        Ok(Store::Sqlite(c))
    }

    /// Connects again to a PostgreSQL server whose connection closed (a
    /// restart); nothing to do on SQLite or on an open connection.
    pub fn reconnect(&mut self) -> Result<()> {
        if let Store::Postgres(p) = self {
            if p.client.is_closed() {
                let client = postgres::Client::connect(&p.url, postgres::NoTls)?;
                p.client = client;
                p.prepared.clear();
            }
        }
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Runs statements without parameters or results.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Store::Sqlite(c) => c.execute_batch(sql)?,
            Store::Postgres(p) => p.client.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Starts a transaction.
    pub fn begin(&mut self) -> Result<()> {
        self.batch("BEGIN")
    }

    /// Commits the transaction.
    pub fn commit(&mut self) -> Result<()> {
        self.batch("COMMIT")
    }

    /// Runs one statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64> {
        match self {
            Store::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql))?;
                let n = st.execute(rusqlite::params_from_iter(params.iter().map(sqlite_param)))?;
                Ok(n as u64)
            }
            Store::Postgres(p) => {
                let st = p.statement(sql)?;
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| &**b as _).collect();
                Ok(p.client.execute(&st, &refs)?)
            }
        }
    }

    /// Runs one query; its rows.
    pub fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
        match self {
            Store::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql))?;
                let width = st.column_count();
                let rows = st.query_map(
                    rusqlite::params_from_iter(params.iter().map(sqlite_param)),
                    |r| {
                        (0..width)
                            .map(|i| {
                                use rusqlite::types::ValueRef;
                                Ok(match r.get_ref(i)? {
                                    ValueRef::Null => Value::Null,
                                    ValueRef::Integer(v) => Value::Int(v),
                                    ValueRef::Real(v) => Value::Real(v),
                                    ValueRef::Text(t) => {
                                        Value::Text(String::from_utf8_lossy(t).into_owned())
                                    }
                                    ValueRef::Blob(_) => Value::Null,
                                })
                            })
                            .collect::<rusqlite::Result<Row>>()
                    },
                )?;
                Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
            }
            Store::Postgres(p) => {
                let st = p.statement(sql)?;
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| &**b as _).collect();
                let rows = p.client.query(&st, &refs)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The integer in the first column of a query's first row (0 for
    /// none, or NULL).
    pub fn scalar(&mut self, sql: &str, params: &[Param]) -> Result<i64> {
        Ok(self
            .query(sql, params)?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::int)
            .unwrap_or(0))
    }

    /// The schema version recorded (0: none, not even the table that
    /// records it). Creates nothing.
    pub fn version(&mut self) -> Result<usize> {
        let exists = match self {
            Store::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'vigie_schema'"
            }
            Store::Postgres(_) => {
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_name = 'vigie_schema' AND table_schema = current_schema()"
            }
        };
        if self.scalar(exists, &[])? == 0 {
            return Ok(0);
        }
        Ok(self
            .scalar("SELECT MAX(version) FROM vigie_schema", &[])?
            .max(0) as usize)
    }

    /// Applies the migrations this database has not had, in one
    /// transaction that holds the database's write lock (SQLite's
    /// `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so that two
    /// ingests starting together on a new database migrate it once.
    fn migrate(&mut self) -> Result<()> {
        match self {
            Store::Sqlite(_) => self.batch("BEGIN IMMEDIATE")?,
            Store::Postgres(_) => self.batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
            ))?,
        }
        let applied = self.apply_migrations();
        match applied {
            Ok(()) => self.commit(),
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn apply_migrations(&mut self) -> Result<()> {
        self.batch("CREATE TABLE IF NOT EXISTS vigie_schema (version BIGINT NOT NULL)")?;
        let version = self.version()?;
        if version > SCHEMA_VERSION {
            bail!(
                "the database's schema is version {version}, newer than this vigie's ({SCHEMA_VERSION}); use a newer vigie"
            );
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            self.batch(m)?;
            self.execute(
                "INSERT INTO vigie_schema (version) VALUES ($1)",
                &[Param::Int(Some(i as i64 + 1))],
            )?;
        }
        Ok(())
    }
}

impl Postgres {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        // Batches of every size would each keep a statement: the cache
        // starts again past a bound.
        if self.prepared.len() >= PREPARED_MAX {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// `$1` → `?1`: SQLite's numbered parameters (the SQL holds no other `$`).
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sqlite_param(p: &Param) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match p {
        Param::Int(v) => v.map_or(V::Null, V::Integer),
        Param::Real(v) => v.map_or(V::Null, V::Real),
        Param::Text(s) => V::Text(s.clone()),
    }
}

fn pg_params(params: &[Param]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn postgres::types::ToSql + Sync> {
            match p {
                Param::Int(v) => Box::new(*v),
                Param::Real(v) => Box::new(*v),
                Param::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

fn pg_row(r: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    (0..r.len())
        .map(|i| {
            let t = r.columns()[i].type_().clone();
            let v = if t == Type::INT8 {
                r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
            } else if t == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)?
                    .map(|v| Value::Int(v.into()))
            } else if t == Type::INT2 {
                r.try_get::<_, Option<i16>>(i)?
                    .map(|v| Value::Int(v.into()))
            } else if t == Type::FLOAT8 {
                r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
            } else if t == Type::FLOAT4 {
                r.try_get::<_, Option<f32>>(i)?
                    .map(|v| Value::Real(v.into()))
            } else if t == Type::TEXT || t == Type::VARCHAR || t == Type::NAME {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            } else {
                bail!("column {i} has the PostgreSQL type {t}, which the fleet queries do not use")
            };
            Ok(v.unwrap_or(Value::Null))
        })
        .collect()
}

/// A database name for messages: a URL without its password.
pub fn redact(db: &str) -> String {
    if !is_postgres(db) {
        return db.to_owned();
    }
    // scheme://user:password@host…?options → scheme://user:…@host…
    let db = db.split_once('?').map_or(db, |(url, _)| url);
    let Some((scheme, rest)) = db.split_once("://") else {
        return db.to_owned();
    };
    match rest.split_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:…@{host}"),
            None => db.to_owned(),
        },
        None => db.to_owned(),
    }
}
