package media

import (
	"cmp"
	"context"
	"errors"
	"slices"
)

// Lock order. A transaction that locks more than one row takes its locks
// in one order, so that two transactions never each hold a row the other
// waits for (on PostgreSQL that is "deadlock detected", which clients see
// as UNAVAILABLE; SQLite runs one writer at a time):
//
//  1. buckets, by id (lockBuckets);
//  2. files, by id (lockFile; a file locked after its bucket);
//  3. blobs, by content (lockBlobs, settle; releasing blobs locks them by
//     content too, in a transaction of its own);
//  4. the events lock, when the transaction writes its events (inTx);
//  5. folder rows, by bucket and path: the Store applies the folder
//     changes a transaction's writes of files staged when it commits,
//     after everything else (see Folder), so no transaction waits for
//     another while holding a folder row.
//
// A transaction locks a file only after the bucket the file is in, when it
// locks buckets at all: it reads the file first, locks that bucket, then
// the file, and if the file moved to another bucket in between it starts
// again (MoveFiles) or answers CONFLICT (ReplaceContent, RestoreRevision).
// Uploads lock their batch's buckets, files and blobs up front
// (lockUploads), copies their target buckets and then the blobs they reuse,
// deleteBucket its bucket and then its files by id, moveFolder and
// trashFolder their buckets and then the folder's files by id
// (LockFiles), and attachments go in
// by file id (their foreign keys share-lock the files). Transactions that
// lock files and no bucket (trash, restore, hold, update, delete — one file
// or a batch, locked in one statement in id order — and purge) never wait
// for a row lock of another kind.

// lockBuckets locks buckets of an organization in id order and returns
// them by id. Ids of buckets that no longer exist are left out; the caller
// finds out what that means for it (its files are gone, say).
func (s *Service) lockBuckets(ctx context.Context, orgID ID, ids []ID) (map[ID]*Bucket, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	out := make(map[ID]*Bucket, len(ids))
	for _, id := range slices.Compact(ids) {
		b, err := s.Store.LockBucket(ctx, orgID, id)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, nil
}

// content names stored bytes: a blob is found by its SHA-256 and size.
type content struct {
	sha256 string
	size   int64
}

// lockBlobs locks, in content order, the READY blob that settle or a copy
// will reuse for each content, and returns them; contents that no READY
// blob has are left out.
func (s *Service) lockBlobs(ctx context.Context, orgID ID, cs []content) (map[content]*Blob, error) {
	cs = slices.Clone(cs)
	order := func(a, b content) int { return cmp.Or(cmp.Compare(a.sha256, b.sha256), cmp.Compare(a.size, b.size)) }
	slices.SortFunc(cs, order)
	out := make(map[content]*Blob, len(cs))
	for _, c := range slices.CompactFunc(cs, func(a, b content) bool { return order(a, b) == 0 }) {
		b, err := s.Store.ReadyBlobBySha256(ctx, orgID, c.sha256, c.size)
		if IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[c] = b
	}
	return out, nil
}

// errRelock is what a transaction returns to be run again with more rows
// locked (see MoveFiles).
var errRelock = errors.New("media: a file moved to a bucket the transaction had not locked")
