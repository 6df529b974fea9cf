package resolvers

import (
	"context"
	"sort"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/mediagraph/mediagraph/graph/model"
	"github.com/mediagraph/mediagraph/loader"
	"github.com/mediagraph/mediagraph/media"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// omittable tells "not given" (keep), null (clear) and a value apart.
func omittable[T any](o graphql.Omittable[*T]) (value *T, clear bool) {
	v, set := o.ValueOK()
	if !set {
		return nil, false
	}
	return v, v == nil
}

// userOf loads a user through the operation's loader; nil id is nil.
func userOf(ctx context.Context, id *media.ID) (*media.User, error) {
	if id == nil {
		return nil, nil
	}
	return loader.For(ctx).User.Load(ctx, *id)()
}

func typeLimits(b *media.Bucket) []*model.TypeLimit {
	out := make([]*model.TypeLimit, 0, len(b.TypeLimits))
	for t, n := range b.TypeLimits {
		out = append(out, &model.TypeLimit{Type: t, MaxSize: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

func typeLimitsInput(in []*model.TypeLimitInput) map[media.FileType]int64 {
	if in == nil {
		return nil
	}
	out := make(map[media.FileType]int64, len(in))
	for _, l := range in {
		out[l.Type] = l.MaxSize
	}
	return out
}

func uploadInput(in *model.UploadFileInput) media.UploadInput {
	name := in.File.Filename
	if in.Name != nil {
		name = *in.Name
	}
	return media.UploadInput{Bucket: deref(in.Bucket), Path: deref(in.Path), Name: name, OriginalName: in.File.Filename, AttachTo: in.AttachTo,
		Content: in.File.File, Size: in.File.Size, DeclaredType: in.File.ContentType,
		Tags: in.Tags, AltText: in.AltText, Caption: in.Caption, Copyright: in.Copyright,
		Metadata: in.Metadata, Visibility: in.Visibility, Replace: deref(in.Replace), ExternalID: in.ExternalID}
}

func base64Input(in *model.UploadFileBase64Input) (media.UploadInput, error) {
	r, size, dataURLType, err := media.Base64Content("data", in.Data)
	if err != nil {
		return media.UploadInput{}, err
	}
	declared := in.MimeType
	if declared == "" {
		declared = dataURLType
	}
	return media.UploadInput{Bucket: deref(in.Bucket), Path: deref(in.Path), Name: in.Name, AttachTo: in.AttachTo,
		Content: r, Size: size, DeclaredType: declared,
		Tags: in.Tags, AltText: in.AltText, Caption: in.Caption, Copyright: in.Copyright,
		Metadata: in.Metadata, Visibility: in.Visibility, Replace: deref(in.Replace), ExternalID: in.ExternalID}, nil
}

// text maps an omittable String to "unchanged" (nil), "clear" and a value.
func text(o graphql.Omittable[*string]) **string {
	v, set := o.ValueOK()
	if !set {
		return nil
	}
	return &v
}

func updateFileInput(in *model.UpdateFileInput) media.FileUpdate {
	out := media.FileUpdate{Name: in.Name, Path: in.Path, Visibility: in.Visibility,
		AltText: text(in.AltText), Caption: text(in.Caption), Copyright: text(in.Copyright), ExternalID: text(in.ExternalID),
		Tags: in.Tags, AddTags: in.AddTags, RemoveTags: in.RemoveTags}
	if in.Metadata != nil {
		out.Metadata = &in.Metadata
	}
	return out
}

// updateFilesInput is the one change updateFiles makes to every file.
func updateFilesInput(in *model.UpdateFilesInput) media.FileUpdate {
	return media.FileUpdate{Visibility: in.Visibility,
		AltText: text(in.AltText), Caption: text(in.Caption), Copyright: text(in.Copyright),
		AddTags: in.AddTags, RemoveTags: in.RemoveTags}
}

// primed tells the operation's bucket loader about the bucket a listing
// already read, so its files' File.bucket costs no query.
func primed(ctx context.Context, c *media.FileConnection, err error) (*media.FileConnection, error) {
	if err == nil && c.Bucket() != nil {
		loader.For(ctx).Bucket.Prime(ctx, c.Bucket().ID, c.Bucket())
	}
	return c, err
}

// retention converts seconds to a duration.
func retention(seconds *int) *time.Duration {
	if seconds == nil {
		return nil
	}
	d := time.Duration(*seconds) * time.Second
	return &d
}

// uploads turns a list of uploads into uploads for the attachments bucket.
func uploads(files []*graphql.Upload) []media.UploadInput {
	out := make([]media.UploadInput, len(files))
	for i, f := range files {
		out[i] = media.UploadInput{Name: f.Filename, Content: f.File, Size: f.Size, DeclaredType: f.ContentType}
	}
	return out
}

// attachments lists the files attached to content the caller sees, as
// files(filter: {attachedTo}), first pages batched across parents.
func (r *Resolver) attachments(ctx context.Context, id media.ID, filter *media.FileFilter, orderBy *media.FileOrder,
	first *int, after *string, last *int, before *string, offset *int, around *media.ID) (*media.FileConnection, error) {
	c, err := r.Media.AttachmentsOf(ctx, id, media.FilesArgs{Filter: deref(filter), Order: deref(orderBy),
		First: first, After: after, Last: last, Before: before, Offset: offset, Around: around})
	if err == nil {
		loader.For(ctx).Attachments(c)
	}
	return c, err
}

// contentPageInfo is the page information of a list of posts, comments or messages.
func contentPageInfo(keys []media.FileKey, hasNext, hasPrevious bool) *media.PageInfo {
	pi := &media.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrevious}
	if n := len(keys); n > 0 {
		start, end := media.ContentCursor(keys[0]), media.ContentCursor(keys[n-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

func keysOf[T any](xs []*T, key func(*T) media.FileKey) []media.FileKey {
	out := make([]media.FileKey, len(xs))
	for i, x := range xs {
		out[i] = key(x)
	}
	return out
}

func postKey(p *media.Post) media.FileKey       { return media.FileKey{Time: p.CreatedAt, ID: p.ID} }
func commentKey(c *media.Comment) media.FileKey { return media.FileKey{Time: c.CreatedAt, ID: c.ID} }
func messageKey(m *media.Message) media.FileKey { return media.FileKey{Time: m.CreatedAt, ID: m.ID} }

func sessionInput(in *model.CreateUploadSessionInput) media.SessionInput {
	return media.SessionInput{ChecksumSha256: in.ChecksumSha256, UploadInput: media.UploadInput{
		Bucket: in.Bucket, Path: deref(in.Path), Name: in.Name, Size: in.Size, DeclaredType: in.MimeType,
		Tags: in.Tags, AltText: in.AltText, Caption: in.Caption, Copyright: in.Copyright,
		Metadata: in.Metadata, Visibility: in.Visibility, Replace: deref(in.Replace), ExternalID: in.ExternalID}}
}

// completedParts maps the parts a client names; nil (not given) joins every stored part.
func completedParts(in []*model.CompletedPartInput) []media.Part {
	if in == nil {
		return nil
	}
	out := make([]media.Part, len(in))
	for i, p := range in {
		out[i] = media.Part{Number: p.Number, ETag: p.Etag}
	}
	return out
}

// ifMultipart returns v for a multipart session and nil otherwise.
func ifMultipart[T any](u *media.UploadSession, v T) *T {
	if !u.Multipart() {
		return nil
	}
	return &v
}

func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// idPageInfo is the page info of a list whose cursors are its items' ids.
func idPageInfo[T any](items []T, hasNext, hasPrevious bool, id func(T) media.ID) *media.PageInfo {
	pi := &media.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrevious}
	if n := len(items); n > 0 {
		start, end := string(id(items[0])), string(id(items[n-1]))
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}
