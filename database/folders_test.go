package database

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/mediagraph/mediagraph/media"
	"github.com/mediagraph/mediagraph/migrations"
)

// children lists the folders below parent as "name:files:bytes:explicit".
func children(t *testing.T, db *DB, fx *fixture, bucket media.ID, parent string) string {
	t.Helper()
	fs, err := db.ChildFolders(context.Background(), fx.org.ID, bucket, parent, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s:%d:%d:%v", f.Name(), f.FileCount, f.Size, f.Explicit))
	}
	return strings.Join(out, " ")
}

// TestFolderBackfill: migration 0007 makes the folders of the files there
// are, live ones only.
func TestFolderBackfill(t *testing.T) {
	test := func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openDB(t, dsn)
		before := fstest.MapFS{}
		err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, "/0007") {
				return err
			}
			b, err := fs.ReadFile(migrations.FS, path)
			before[path] = &fstest.MapFile{Data: b}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.migrate(ctx, before); err != nil {
			t.Fatal(err)
		}
		fx := newFixture(t, db)
		fx.newFile(func(f *media.File) { f.Path, f.Size = "/a/b/", 10 })
		fx.newFile(func(f *media.File) { f.Path, f.Size = "/a/", 5 })
		fx.newFile(func(f *media.File) { f.Path, f.Size = "/é/", 7 })
		fx.newFile(func(f *media.File) { f.Path, f.Size = "/", 3 })
		fx.newFile(func(f *media.File) { f.Path, f.Size, f.TrashedAt = "/gone/", 9, &t0 })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if got := children(t, db, fx, fx.bucket.ID, "/"); got != "a:2:15:false é:1:7:false" {
			t.Fatalf("root: %q", got)
		}
		if got := children(t, db, fx, fx.bucket.ID, "/a/"); got != "b:1:10:false" {
			t.Fatalf("/a/: %q", got)
		}
	}
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteTestDSN(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgTestDSN(t)) })
}

// TestFolderCounts: every write of files moves the counts, in the
// transaction: a rollback leaves them as they were.
func TestFolderCounts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		other := fx.newBucket("other")
		f := fx.newFile(func(f *media.File) { f.Path, f.Size = "/a/b/", 10 })
		fx.newFile(func(f *media.File) { f.Path, f.Size = "/a/", 1 })
		want := func(bucket media.ID, parent, list string) {
			t.Helper()
			if got := children(t, db, fx, bucket, parent); got != list {
				t.Fatalf("%s: %q, want %q", parent, got, list)
			}
		}
		want(fx.bucket.ID, "/", "a:2:11:false")
		// A new revision changes the size.
		r := fx.revision(f, 2, fx.newBlob(30))
		f.Revision, f.BlobID, f.Size = 2, r.BlobID, 30
		fx.must(db.AddRevision(ctx, f, r))
		want(fx.bucket.ID, "/", "a:2:31:false")
		// Moving to another bucket, and a rollback.
		errRollback := fmt.Errorf("roll back")
		err := db.InTx(ctx, func(tx media.Store) error {
			g := *f
			g.BucketID, g.Path = other.ID, "/x/"
			fx.must(tx.UpdateFile(ctx, &g, nil))
			return errRollback
		})
		if err != errRollback {
			t.Fatal(err)
		}
		want(fx.bucket.ID, "/", "a:2:31:false")
		want(other.ID, "/", "")
		g := *f
		g.BucketID, g.Path = other.ID, "/x/"
		fx.must(db.UpdateFile(ctx, &g, nil))
		want(fx.bucket.ID, "/a/", "")
		want(other.ID, "/", "x:1:30:false")
		// Explicit folders count in their parents and persist empty.
		fx.must(db.MarkFolders(ctx, fx.org.ID, other.ID, []string{"/x/", "/y/z/"}, 1))
		want(other.ID, "/", "x:1:30:true y:0:0:false")
		fx.must(db.MarkFolders(ctx, fx.org.ID, other.ID, []string{"/x/"}, -1))
		if _, err := db.DeleteFiles(ctx, fx.org.ID, []media.ID{g.ID}); err != nil {
			t.Fatal(err)
		}
		want(other.ID, "/", "y:0:0:false")
		want(other.ID, "/y/", "z:0:0:true")
		paths, err := db.ExplicitFolders(ctx, fx.org.ID, other.ID, "/")
		if err != nil || len(paths) != 1 || paths[0] != "/y/z/" {
			t.Fatalf("explicit: %v %v", paths, err)
		}
		// Deleting the bucket deletes its folders.
		fx.must(db.DeleteBucket(ctx, fx.org.ID, other.ID))
		var n int
		fx.must(db.Bun().NewRaw("SELECT count(*) FROM folders WHERE bucket_id = ?", other.ID).Scan(ctx, &n))
		if n != 0 {
			t.Fatalf("%d folders of a deleted bucket", n)
		}
		// Another organization's rows are out of reach.
		if fs, err := db.ChildFolders(ctx, "org_other", fx.bucket.ID, "/", "", 10); err != nil || len(fs) != 0 {
			t.Fatalf("another organization lists %v, %v", fs, err)
		}
	})
}

// TestFolderWritesDoNotDeadlock: transactions that each move two files
// between the same folders, in opposite orders, never wait for each other
// on folder rows (PostgreSQL applies them at commit, sorted).
func TestFolderWritesDoNotDeadlock(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		fx := newFixture(t, db)
		folders := []string{"/p/", "/q/", "/r/s/", "/t/"}
		const workers = 8
		files := make([][2]*media.File, workers)
		for w := range files {
			for i := range files[w] {
				files[w][i] = fx.newFile(func(f *media.File) { f.Path = folders[(w+i)%len(folders)] })
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for range 25 {
					err := db.InTx(ctx, func(tx media.Store) error {
						for _, i := range rng.Perm(2) {
							f := files[w][i]
							g := *f
							g.Path = folders[rng.IntN(len(folders))]
							if err := tx.UpdateFile(ctx, &g, nil); err != nil {
								return err
							}
							// Another statement later in the transaction.
							if _, _, err := tx.FileTotals(ctx, media.FileQuery{OrgID: fx.org.ID, BucketID: &fx.bucket.ID}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					for i := range files[w] {
						got, err := db.File(ctx, fx.org.ID, files[w][i].ID)
						if err != nil {
							errs <- err
							return
						}
						files[w][i] = got
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a transaction failed: %v", err)
		}
		total := 0
		fs, err := db.ChildFolders(ctx, fx.org.ID, fx.bucket.ID, "/", "", 100)
		fx.must(err)
		for _, f := range fs {
			total += f.FileCount
		}
		if total != 2*workers {
			t.Fatalf("the folders count %d files, want %d", total, 2*workers)
		}
	})
}
