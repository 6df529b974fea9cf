// Package database implements media.Store with bun, on PostgreSQL (pgdriver)
// and on SQLite (modernc.org/sqlite, without cgo).
//
// Rows are read and written through models private to this package and
// converted to and from the media types, which carry no bun tags. Driver
// errors are turned into media errors in one place (errors.go): no row is
// NOT_FOUND, a unique violation is CONFLICT, a lost or refused connection is
// UNAVAILABLE, and anything else is internal.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/extra/bunotel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"

	"github.com/mediagraph/mediagraph/media"
)

// Dialect names, as returned by (*DB).Dialect.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DB is the database. The *DB from Open uses a connection pool; the Store
// that InTx hands to its callback is a copy of it bound to the transaction.
type DB struct {
	db      *bun.DB
	idb     bun.IDB // db, or the transaction of an InTx copy
	dialect string
	inTx    bool
	broker  *broker
	// committed runs after the outermost transaction commits (SQLite's
	// in-process notifications); shared by nested copies.
	committed *[]func()
}

var _ media.Store = (*DB)(nil)

// Open connects to the database named by dsn and checks that it answers:
//
//   - postgres://… or postgresql://… : PostgreSQL (pgdriver's URL options,
//     such as sslmode and read_timeout, apply);
//   - sqlite:PATH, file:PATH or a plain PATH: an SQLite file, created if
//     missing, opened in WAL mode with foreign keys on and a single
//     connection (one writer, so no SQLITE_BUSY inside the process).
//
// It does not migrate: call Migrate. Returns UNAVAILABLE if the database
// cannot be reached.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		db      *bun.DB
		dialect string
	)
	switch {
	case dsn == "":
		return nil, errors.New("database: no database URL")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		conn, err := pgConnector(dsn)
		if err != nil {
			return nil, err
		}
		sqldb := sql.OpenDB(conn)
		n := max(8, 4*runtime.GOMAXPROCS(0))
		sqldb.SetMaxOpenConns(n)
		sqldb.SetMaxIdleConns(n)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db, dialect = bun.NewDB(sqldb, pgdialect.New()), Postgres
	default:
		name, err := sqliteDSN(dsn)
		if err != nil {
			return nil, err
		}
		registerSQLiteFuncs()
		sqldb, err := sql.Open("sqlite", name)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		// One connection: SQLite has one writer anyway, and a single
		// connection never waits on another one of this process. Callers
		// must not query the outer *DB inside an InTx callback.
		sqldb.SetMaxOpenConns(1)
		sqldb.SetMaxIdleConns(1)
		sqldb.SetConnMaxLifetime(0)
		sqldb.SetConnMaxIdleTime(0)
		db, dialect = bun.NewDB(sqldb, &sqliteDialect{sqlitedialect.New()}), SQLite
	}
	d := &DB{db: db, idb: db, dialect: dialect, broker: newBroker()}
	if err := d.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// pgConnector builds the pgdriver connector, turning pgdriver's panics on a
// bad URL into an error that does not repeat the URL (it may hold a password).
func pgConnector(dsn string) (conn *pgdriver.Connector, err error) {
	if _, err := url.Parse(dsn); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("database: invalid PostgreSQL URL: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			conn, err = nil, fmt.Errorf("database: invalid PostgreSQL URL: %v", r)
		}
	}()
	return pgdriver.NewConnector(pgdriver.WithApplicationName("mediagraph"), pgdriver.WithDSN(dsn)), nil
}

// sqlitePragmas are applied by modernc.org/sqlite to every new connection.
// _txlock=immediate makes BEGIN take the write lock at once, so a
// transaction never fails half-way on a lock held by another process.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)&_txlock=immediate"

// sqliteDSN turns sqlite:PATH[?params], file:URI[?params] or a plain file
// name into a modernc.org/sqlite file: URI with our pragmas.
func sqliteDSN(dsn string) (string, error) {
	if i := strings.Index(dsn, "://"); i > 0 && !strings.HasPrefix(dsn, "sqlite:") && !strings.HasPrefix(dsn, "file:") {
		return "", fmt.Errorf("database: unsupported database URL scheme %q (use postgres://… or sqlite:PATH)", dsn[:i])
	}
	var path, query string
	escape := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace
	switch {
	case strings.HasPrefix(dsn, "file:"):
		// Already a URI: keep its escaping and parameters.
		path, query, _ = strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	case strings.HasPrefix(dsn, "sqlite:"):
		rest := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//") // sqlite:///abs/path
		path, query, _ = strings.Cut(rest, "?")
		path = escape(path)
	default:
		path = escape(dsn) // a file name, as is
	}
	if path == "" {
		return "", errors.New("database: the SQLite URL has no file path")
	}
	if query != "" {
		query += "&"
	}
	return "file:" + path + "?" + query + sqlitePragmas, nil
}

// sqliteLower is the SQL function that lower-cases text by Unicode rules;
// SQLite's own lower() only knows ASCII.
const sqliteLower = "mg_lower"

var registerOnce sync.Once

func registerSQLiteFuncs() {
	registerOnce.Do(func() {
		// An error means the name is taken, by an earlier registration in
		// this process: the function is there either way.
		_ = sqlite.RegisterDeterministicScalarFunction(sqliteLower, 1,
			func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
				switch v := args[0].(type) {
				case string:
					return strings.ToLower(v), nil
				case []byte:
					return strings.ToLower(string(v)), nil
				default:
					return v, nil
				}
			})
	})
}

// sqliteTimeFormat is how times are stored on SQLite: fixed width and UTC,
// so that text order is time order, at the microsecond precision of
// PostgreSQL's timestamptz.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// sqliteDialect is bun's SQLite dialect writing times in sqliteTimeFormat.
// bun's own format ("2006-01-02 15:04:05.999999-07:00") trims trailing
// zeros, so its values are not all the same width.
type sqliteDialect struct {
	*sqlitedialect.Dialect
}

// AppendTime appends tm as a quoted literal in sqliteTimeFormat.
func (*sqliteDialect) AppendTime(b []byte, tm time.Time) []byte {
	b = append(b, '\'')
	b = tm.UTC().AppendFormat(b, sqliteTimeFormat)
	return append(b, '\'')
}

// Close closes the connection pool. On the Store an InTx callback is given it
// does nothing.
func (d *DB) Close() error {
	if d.inTx {
		return nil
	}
	d.broker.close()
	return d.db.Close()
}

// Bun returns the underlying bun database (never a transaction), for tests
// and tools.
func (d *DB) Bun() *bun.DB {
	return d.db
}

// Trace records a span for every query from now on (bun's OpenTelemetry
// hook), named by the operation, with the statement as bun built it
// before arguments were put in: the values never reach a span. Call it
// before the DB is used.
func (d *DB) Trace(tp trace.TracerProvider) {
	d.db.AddQueryHook(bunotel.NewQueryHook(bunotel.WithTracerProvider(tp),
		bunotel.WithMeterProvider(metricnoop.NewMeterProvider()), bunotel.WithFormattedQueries(false)))
}

// SQL returns the connection pool, for its statistics.
func (d *DB) SQL() *sql.DB {
	return d.db.DB
}

// Dialect returns Postgres or SQLite.
func (d *DB) Dialect() string {
	return d.dialect
}

// Ping checks that the database answers. Returns UNAVAILABLE otherwise.
func (d *DB) Ping(ctx context.Context) error {
	var err error
	if d.inTx {
		_, err = d.idb.ExecContext(ctx, "SELECT 1")
	} else {
		err = d.db.PingContext(ctx)
	}
	if err != nil {
		return media.Unavailable("database", err)
	}
	return nil
}

// InTx runs fn in a transaction (a savepoint if d is already in one). fn
// must use the Store it is given. fn's error is returned unchanged.
func (d *DB) InTx(ctx context.Context, fn func(tx media.Store) error) error {
	return d.runInTx(ctx, func(tx *DB) error { return fn(tx) })
}

// atomic runs fn in a transaction unless d is in one already, for methods
// that write several rows.
func (d *DB) atomic(ctx context.Context, fn func(d *DB) error) error {
	if d.inTx {
		return fn(d)
	}
	return d.runInTx(ctx, fn)
}

// runInTx runs fn with a copy of d bound to a new transaction (a
// savepoint in one), then, once the outermost one committed, its
// committed hooks.
func (d *DB) runInTx(ctx context.Context, fn func(tx *DB) error) error {
	hooks := d.committed
	if hooks == nil {
		hooks = &[]func(){}
	}
	var fnErr error
	err := d.idb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		fnErr = fn(&DB{db: d.db, idb: tx, dialect: d.dialect, inTx: true, broker: d.broker, committed: hooks})
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err == nil && d.committed == nil {
		for _, h := range *hooks {
			h()
		}
	}
	return wrap(err, "transaction")
}
