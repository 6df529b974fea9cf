package media

import (
	"context"
	"slices"
)

// FileUpdate changes the fields that are set. For the texts, a set
// pointer to nil (Clear*) removes the value.
type FileUpdate struct {
	Name       *string
	Path       *string
	Visibility *Visibility
	AltText    **string
	Caption    **string
	Copyright  **string
	Metadata   *map[string]any
	// ExternalID sets (or, set to nil, clears) the client's id of the file.
	ExternalID **string
	// Tags replaces the tags; AddTags and RemoveTags change them.
	Tags       []string
	AddTags    []string
	RemoveTags []string
}

// UpdateFile changes a file's description, name, folder, external id or
// visibility.
// updatedAt and updatedBy advance. The change is decided on the file's
// locked row, and only the fields given are written.
// Returns NOT_FOUND, FORBIDDEN without media:update or the rights of
// CONTRACT §6 (descriptive changes in RESTRICTED buckets and visibility
// need the uploader or an admin; external ids in RESTRICTED buckets an
// admin), BAD_USER_INPUT, and CONFLICT if the new name is taken in the
// target folder by a file the caller can see, or the external id by another
// file of the bucket.
func (s *Service) UpdateFile(ctx context.Context, id ID, in FileUpdate) (*File, error) {
	in, err := in.normalize()
	if err != nil {
		return nil, err
	}
	var out *File
	_, err = s.changeFile(ctx, ScopeMediaUpdate, id, ActDescribe, func(tx *Service, p *Principal, f *File) error {
		if err := tx.allowUpdate(ctx, p, []*File{f}, in); err != nil {
			return err
		}
		var err error
		out, err = tx.applyUpdate(ctx, p, f, in)
		return err
	})
	return out, err
}

// UpdateFiles makes one change to many files, all or nothing: visibility,
// altText, caption and copyright (a set pointer to nil clears the text),
// addTags and removeTags. Names, folders, metadata and the whole tag list
// are each file's own and are not changed in bulk (BAD_USER_INPUT): folders
// change with moveFiles. Each file is asked the policy UpdateFile asks.
// Returns BAD_USER_INPUT (also for more than MaxBulkIDs ids, one given
// twice, or a file that would carry too many tags), and for the first
// file refused: NOT_FOUND, FORBIDDEN.
func (s *Service) UpdateFiles(ctx context.Context, ids []ID, in FileUpdate) ([]*File, error) {
	for _, c := range []struct {
		field string
		set   bool
	}{{"name", in.Name != nil}, {"path", in.Path != nil}, {"metadata", in.Metadata != nil}, {"tags", in.Tags != nil}} {
		if c.set {
			return nil, Invalid(c.field, "%s is not changed in bulk; use updateFile (or moveFiles for folders)", c.field)
		}
	}
	in, err := in.normalize()
	if err != nil {
		return nil, err
	}
	return s.changeFiles(ctx, ScopeMediaUpdate, ids, ActDescribe, func(tx *Service, p *Principal, fs []*File) error {
		if err := tx.allowUpdate(ctx, p, fs, in); err != nil {
			return err
		}
		now := s.now()
		for _, f := range fs {
			tags, err := in.nextTags(f)
			if err != nil {
				return withPrefix(err, "file "+string(f.ID))
			}
			if tags != nil {
				f.Tags = tags
			}
			in.applyFields(f)
			f.UpdatedAt, f.UpdatedBy = now, &p.UserID
			tx.emit(p, EventUpdated, f, nil)
		}
		return tx.Store.UpdateFiles(ctx, p.OrgID, ids, FilesChange{Visibility: in.Visibility, AltText: in.AltText,
			Caption: in.Caption, Copyright: in.Copyright, AddTags: in.AddTags, RemoveTags: in.RemoveTags,
			UpdatedAt: now, UpdatedBy: p.UserID})
	})
}

// allowUpdate asks the policy what an update needs besides the
// descriptive change its files were locked for (lockFiles with
// ActDescribe): a change of visibility changes who can see a file
// (CONTRACT §6).
func (s *Service) allowUpdate(ctx context.Context, p *Principal, fs []*File, in FileUpdate) error {
	if in.Visibility == nil {
		return nil
	}
	var exposed []*File
	for _, f := range fs {
		if f.Visibility != *in.Visibility {
			exposed = append(exposed, f)
		}
	}
	return s.allowAll(ctx, p, exposed, ActExpose)
}

// normalize checks an update and returns it with its name, path and tags
// in canonical form. Returns BAD_USER_INPUT.
func (in FileUpdate) normalize() (FileUpdate, error) {
	var err error
	if in.Name != nil {
		n, err := SanitizeName("name", *in.Name)
		if err != nil {
			return in, err
		}
		in.Name = &n
	}
	if in.Path != nil {
		p, err := NormalizePath("path", *in.Path)
		if err != nil {
			return in, err
		}
		in.Path = &p
	}
	if in.Visibility != nil && !in.Visibility.Valid() {
		return in, Invalid("visibility", "visibility must be PUBLIC or PRIVATE")
	}
	for field, v := range map[string]**string{"altText": in.AltText, "caption": in.Caption, "copyright": in.Copyright} {
		if v != nil {
			if err := checkText(field, *v); err != nil {
				return in, err
			}
		}
	}
	if in.ExternalID != nil {
		id, err := normalizeExternalID("externalId", *in.ExternalID)
		if err != nil {
			return in, err
		}
		in.ExternalID = &id
	}
	if in.Metadata != nil {
		if *in.Metadata == nil {
			return in, Invalid("metadata", "metadata must be a JSON object; send {} to clear it")
		}
		m, err := checkMetadata("metadata", *in.Metadata)
		if err != nil {
			return in, err
		}
		in.Metadata = &m
	}
	if in.Tags != nil && (in.AddTags != nil || in.RemoveTags != nil) {
		return in, Invalid("tags", "give tags, or addTags/removeTags, not both")
	}
	if in.Tags, err = normalizeTagList("tags", in.Tags); err != nil {
		return in, err
	}
	if in.AddTags, err = normalizeTagList("addTags", in.AddTags); err != nil {
		return in, err
	}
	if in.RemoveTags, err = normalizeTagList("removeTags", in.RemoveTags); err != nil {
		return in, err
	}
	return in, nil
}

// normalizeTagList is NormalizeTags keeping nil (not given) apart from empty.
func normalizeTagList(field string, tags []string) ([]string, error) {
	if tags == nil {
		return nil, nil
	}
	return NormalizeTags(field, tags)
}

// empty reports whether the update changes nothing.
func (in FileUpdate) empty() bool {
	return in.Name == nil && in.Path == nil && in.Visibility == nil && in.AltText == nil && in.Caption == nil &&
		in.Copyright == nil && in.Metadata == nil && in.ExternalID == nil && in.Tags == nil && in.AddTags == nil && in.RemoveTags == nil
}

// applyUpdate writes a normalized update onto f, a file locked in the
// transaction s works in, and returns it. A new name or folder must be
// free (see freeName).
func (s *Service) applyUpdate(ctx context.Context, p *Principal, f *File, in FileUpdate) (*File, error) {
	if in.Name != nil || in.Path != nil {
		name, path := f.Name, f.Path
		if in.Name != nil {
			name = *in.Name
		}
		if in.Path != nil {
			path = *in.Path
		}
		var err error
		if f.Name, err = s.freeName(ctx, p, f.BucketID, path, name, f.ID, nil); err != nil {
			return nil, err
		}
		f.Path = path
	}
	in.applyFields(f)
	if in.Metadata != nil {
		f.Metadata = *in.Metadata
	}
	if in.ExternalID != nil {
		id := *in.ExternalID
		if id != nil && (f.ExternalID == nil || *f.ExternalID != *id) {
			b, err := s.bucketOf(ctx, p, f)
			if err != nil {
				return nil, err
			}
			if err := s.checkExternalID(ctx, p, b, id, f.ID); err != nil {
				return nil, err
			}
		}
		f.ExternalID = id
	}
	tags, err := in.nextTags(f)
	if err != nil {
		return nil, err
	}
	f.UpdatedAt, f.UpdatedBy = s.now(), &p.UserID
	if err := s.Store.UpdateFile(ctx, f, tags); err != nil {
		return nil, err
	}
	s.emit(p, EventUpdated, f, nil)
	if tags != nil {
		f.Tags = tags
	}
	return f, nil
}

// applyFields sets the visibility and texts an update gives on f.
func (in FileUpdate) applyFields(f *File) {
	if in.Visibility != nil {
		f.Visibility = *in.Visibility
	}
	for _, t := range []struct{ in, out **string }{{in.AltText, &f.AltText}, {in.Caption, &f.Caption}, {in.Copyright, &f.Copyright}} {
		if t.in != nil {
			*t.out = *t.in
		}
	}
}

// nextTags returns f's tags after the update (nil: unchanged): its tags
// replaced, or with addTags added and removeTags removed (a tag in both is
// removed). Returns BAD_USER_INPUT for too many tags.
func (in FileUpdate) nextTags(f *File) ([]string, error) {
	switch {
	case in.Tags != nil:
		return in.Tags, nil
	case in.AddTags != nil || in.RemoveTags != nil:
		out := slices.DeleteFunc(append(slices.Clone(f.Tags), in.AddTags...), func(t string) bool { return slices.Contains(in.RemoveTags, t) })
		return NormalizeTags("addTags", out)
	}
	return nil, nil
}
