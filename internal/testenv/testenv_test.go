package testenv_test

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/mediagraph/mediagraph/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	var dsn, name string
	t.Run("create", func(t *testing.T) {
		dsn = testenv.Postgres(t)
		db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "mediagraph_test_") || !strings.Contains(dsn, "127.0.0.1") {
			t.Fatalf("database %s at %s", name, dsn)
		}
		// A connection left open must not stop the drop.
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		t.Skip("no database was created")
	}
	base := os.Getenv("MEDIAGRAPH_TEST_POSTGRES")
	if base == "" {
		base = testenv.DefaultPostgres
	}
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base)))
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%s was not dropped", name)
	}
}

func TestVersityGW(t *testing.T) {
	endpoint, _, _ := testenv.VersityGW(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s", endpoint)
	}
	again, _, _ := testenv.VersityGW(t)
	if again != endpoint {
		t.Fatalf("a second server: %s, %s", endpoint, again)
	}
	res, err := http.Get(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s := testenv.S3(t, "when_required")
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
