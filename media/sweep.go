package media

import "context"

// SweepReport says what one sweep did.
type SweepReport struct {
	// Skipped is true when another server held the sweep lock.
	Skipped bool
	// Purged counts trashed files whose retention had passed.
	Purged int
	// Abandoned counts PENDING blobs removed (uploads and deletes that died
	// between their steps).
	Abandoned int
	// Orphans counts stored objects that no blob row referenced, deleted.
	Orphans int
	// ExpiredSessions counts upload sessions ended because their time was
	// up, with their parts and objects deleted.
	ExpiredSessions int
	// StrayUploads counts multipart uploads no session knew, aborted.
	StrayUploads int
	// ExpiredEvents counts file events older than the event retention,
	// deleted (with finished webhook deliveries as old).
	ExpiredEvents int
	// Missing lists READY blobs whose bytes are not in storage. They are
	// reported, not deleted: a file row points at them.
	Missing []ID
}

// Sweep runs the background work once: it purges trashed files whose time
// has come (never files under legal hold), removes abandoned PENDING blobs,
// ends expired upload sessions and aborts multipart uploads no session knows,
// deletes events past their retention,
// and reconciles the object store with the blob rows: objects nothing
// references and older than Config.CleanupAge are deleted; rows whose
// bytes are missing are reported. Only one server sweeps at a time.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var r SweepReport
	release, ok, err := s.Store.TryLock(ctx, "sweep")
	if err != nil {
		return r, err
	}
	if !ok {
		r.Skipped = true
		return r, nil
	}
	defer release()
	if r.Purged, err = s.purge(ctx); err != nil {
		return r, err
	}
	if r.Abandoned, err = s.Cleanup(ctx); err != nil {
		return r, err
	}
	if r.ExpiredSessions, err = s.expireSessions(ctx); err != nil {
		return r, err
	}
	if r.StrayUploads, err = s.abortStrayMultipart(ctx); err != nil {
		return r, err
	}
	if r.Orphans, err = s.deleteOrphans(ctx); err != nil {
		return r, err
	}
	if r.ExpiredEvents, err = s.Store.DeleteEventsBefore(ctx, s.now().Add(-s.eventRetention())); err != nil {
		return r, err
	}
	if r.Missing, err = s.findMissing(ctx); err != nil {
		return r, err
	}
	for _, id := range r.Missing {
		s.Logger.ErrorContext(ctx, "a blob's bytes are missing from storage", "blob_id", id)
	}
	return r, nil
}

// purge deletes trashed files whose time has come. Each is decided on its
// locked row (purgeFile): one restored or put on hold since it was listed
// stays.
func (s *Service) purge(ctx context.Context) (int, error) {
	n := 0
	now := s.now()
	var after *FileKey
	for {
		fs, err := s.Store.PurgeableFiles(ctx, now, after, 100)
		if err != nil {
			return n, err
		}
		for _, f := range fs {
			ok, err := s.purgeFile(ctx, f.OrgID, f.ID, &now)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if len(fs) < 100 {
			return n, nil
		}
		last := fs[len(fs)-1]
		after = &FileKey{Time: *last.PurgeAt, ID: last.ID}
	}
}

// deleteOrphans deletes stored objects that no blob row references and
// that are older than CleanupAge (younger ones may be uploads in flight).
func (s *Service) deleteOrphans(ctx context.Context) (int, error) {
	cutoff := s.now().Add(-s.Config.CleanupAge)
	var batch []BlobInfo
	n := 0
	flush := func() error {
		keys := make([]string, len(batch))
		for i, b := range batch {
			// A thumbnail or variant lives as long as the blob it was rendered from.
			keys[i], _ = thumbnailOwner(b.Key)
		}
		known, err := s.Store.BlobKeysExist(ctx, keys)
		if err != nil {
			return err
		}
		for i, b := range batch {
			if !known[keys[i]] && b.Modified.Before(cutoff) {
				if err := s.Blobs.Delete(ctx, b.Key); err != nil {
					return err
				}
				s.Logger.WarnContext(ctx, "deleted an object no row referenced", "key", b.Key, "size", b.Size)
				n++
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.Blobs.List(ctx, "", func(b BlobInfo) error {
		batch = append(batch, b)
		if len(batch) == 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// findMissing checks that every READY blob's bytes exist.
func (s *Service) findMissing(ctx context.Context) ([]ID, error) {
	var missing []ID
	after := ID("")
	for {
		bs, err := s.Store.ReadyBlobs(ctx, after, 500)
		if err != nil {
			return missing, err
		}
		for _, b := range bs {
			if _, err := s.Blobs.Stat(ctx, b.StorageKey); IsNotFound(err) {
				missing = append(missing, b.ID)
			} else if err != nil {
				return missing, err
			}
			after = b.ID
		}
		if len(bs) < 500 {
			return missing, nil
		}
	}
}
