package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/mediagraph/mediagraph/migrations"
)

// migrationLockID is the PostgreSQL advisory lock that serializes
// migrations across processes ("mgmigr" in ASCII).
const migrationLockID int64 = 0x6d676d696772

// migrationName is the form of a migration file name: NNNN_description.sql.
var migrationName = regexp.MustCompile(`^[0-9]{4,}_[a-z0-9_]+\.sql$`)

// splitLine separates statements within a migration file that must be sent
// to the server one at a time.
const splitLine = "-- split"

type migration struct {
	version    string // the file name without .sql
	statements []string
}

// Migrate applies the migrations of the database's dialect that are not
// applied yet, in order, and returns their versions. Each migration runs in
// its own transaction together with its row in schema_migrations, so a
// failed migration leaves nothing behind and is retried on the next run.
//
// On PostgreSQL the whole run holds an advisory lock on one connection, so
// replicas that start together apply each migration once: the others wait,
// then find nothing left to do. On SQLite each migration's transaction
// takes the write lock first and checks again that it is still pending.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	return d.migrate(ctx, migrations.FS)
}

func (d *DB) migrate(ctx context.Context, fsys fs.FS) (applied []string, err error) {
	ms, err := loadMigrations(fsys, d.dialect)
	if err != nil {
		return nil, err
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", wrap(err, "connection"))
	}
	var discard bool // the session may still hold the lock: do not reuse it
	defer func() {
		if discard {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	if d.dialect == Postgres {
		if err := lockMigrations(ctx, conn); err != nil {
			discard = true
			return nil, err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?)", migrationLockID); err != nil {
				discard = true
			}
		}()
	}

	create := "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL)"
	if d.dialect == SQLite {
		create = "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
	}
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return nil, fmt.Errorf("migrations: creating schema_migrations: %w", wrap(err, "schema_migrations"))
	}
	var done []string
	if err := conn.NewRaw("SELECT version FROM schema_migrations").Scan(ctx, &done); err != nil {
		return nil, fmt.Errorf("migrations: %w", wrap(err, "schema_migrations"))
	}
	applied = []string{}
	for _, m := range ms {
		if slices.Contains(done, m.version) {
			continue
		}
		ran, err := runMigration(ctx, conn, m)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.version, err)
		}
		if ran {
			applied = append(applied, m.version)
		}
	}
	return applied, nil
}

// lockMigrations takes the advisory lock, polling with pg_try_advisory_lock
// so that waiting obeys ctx and never trips the driver's read timeout.
func lockMigrations(ctx context.Context, conn bun.Conn) error {
	for {
		var ok bool
		if err := conn.NewRaw("SELECT pg_try_advisory_lock(?)", migrationLockID).Scan(ctx, &ok); err != nil {
			return fmt.Errorf("migrations: taking the lock: %w", wrap(err, "lock"))
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrations: waiting for another process to finish migrating: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runMigration applies one migration and records it, in one transaction. It
// reports false if another process applied it first.
func runMigration(ctx context.Context, conn bun.Conn, m migration) (ran bool, err error) {
	err = conn.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := tx.NewSelect().Table("schema_migrations").ColumnExpr("1").Where("version = ?", m.version).Exists(ctx)
		if err != nil {
			return wrap(err, "schema_migrations")
		}
		if done {
			return nil
		}
		for i, stmt := range m.statements {
			// The embedded *sql.Tx, not bun's: the SQL is sent as written,
			// with no placeholder formatting.
			if _, err := tx.Tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("statement %d: %w", i+1, err)
			}
		}
		_, err = tx.NewRaw("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().UTC().Truncate(time.Microsecond)).Exec(ctx)
		if err != nil {
			return wrap(err, "schema_migrations")
		}
		ran = true
		return nil
	})
	return ran, err
}

// loadMigrations reads dialect/*.sql from fsys, in name order.
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	names, err := fs.Glob(fsys, dialect+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("migrations: no migrations for %s", dialect)
	}
	slices.Sort(names)
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		if !migrationName.MatchString(base) {
			return nil, fmt.Errorf("migrations: %s: the name must look like 0001_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		m := migration{version: strings.TrimSuffix(base, ".sql"), statements: splitStatements(string(b))}
		if len(m.statements) == 0 {
			return nil, errors.New("migrations: " + name + " is empty")
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// splitStatements splits a migration file on lines that are exactly
// "-- split" and drops parts that hold only blank lines and comments.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		for _, line := range strings.Split(s, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
				out = append(out, s)
				return
			}
		}
	}
	for _, line := range strings.SplitAfter(sql, "\n") {
		if strings.TrimSpace(line) == splitLine {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}
