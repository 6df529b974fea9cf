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
	// Tags replaces the tags; AddTags and RemoveTags change them.
	Tags       []string
	AddTags    []string
	RemoveTags []string
}

// UpdateFile changes a file's description, name, folder or visibility.
// updatedAt and updatedBy advance.
// Returns NOT_FOUND, FORBIDDEN without media:update, BAD_USER_INPUT, and
// CONFLICT if the new name is taken in the target folder.
func (s *Service) UpdateFile(ctx context.Context, id ID, in FileUpdate) (*File, error) {
	p, f, err := s.fileFor(ctx, ScopeMediaUpdate, id)
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		if f.Name, err = SanitizeName("name", *in.Name); err != nil {
			return nil, err
		}
	}
	if in.Path != nil {
		if f.Path, err = NormalizePath("path", *in.Path); err != nil {
			return nil, err
		}
	}
	if in.Visibility != nil {
		if !in.Visibility.Valid() {
			return nil, Invalid("visibility", "visibility must be PUBLIC or PRIVATE")
		}
		f.Visibility = *in.Visibility
	}
	for _, t := range []struct {
		field string
		in    **string
		out   **string
	}{{"altText", in.AltText, &f.AltText}, {"caption", in.Caption, &f.Caption}, {"copyright", in.Copyright, &f.Copyright}} {
		if t.in == nil {
			continue
		}
		if err := checkText(t.field, *t.in); err != nil {
			return nil, err
		}
		*t.out = *t.in
	}
	if in.Metadata != nil {
		if *in.Metadata == nil {
			return nil, Invalid("metadata", "metadata must be a JSON object; send {} to clear it")
		}
		if f.Metadata, err = checkMetadata("metadata", *in.Metadata); err != nil {
			return nil, err
		}
	}
	tags, err := s.newTags(ctx, f, in)
	if err != nil {
		return nil, err
	}
	f.UpdatedAt, f.UpdatedBy = s.now(), &p.UserID
	if err := s.Store.UpdateFile(ctx, f, tags); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, nameTaken(f.Path, f.Name)
		}
		return nil, err
	}
	if tags != nil {
		f.Tags = tags
	}
	return f, nil
}

// newTags returns the file's new tag list, or nil if the tags do not change.
func (s *Service) newTags(ctx context.Context, f *File, in FileUpdate) ([]string, error) {
	if in.Tags == nil && in.AddTags == nil && in.RemoveTags == nil {
		return nil, nil
	}
	if in.Tags != nil && (in.AddTags != nil || in.RemoveTags != nil) {
		return nil, Invalid("tags", "give tags, or addTags/removeTags, not both")
	}
	if in.Tags != nil {
		return NormalizeTags("tags", in.Tags)
	}
	current, err := s.Store.TagsByFileIDs(ctx, f.OrgID, []ID{f.ID})
	if err != nil {
		return nil, err
	}
	add, err := NormalizeTags("addTags", in.AddTags)
	if err != nil {
		return nil, err
	}
	remove, err := NormalizeTags("removeTags", in.RemoveTags)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(append(current[f.ID], add...), func(t string) bool { return slices.Contains(remove, t) })
	return NormalizeTags("addTags", out)
}
