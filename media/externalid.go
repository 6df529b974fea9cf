package media

import (
	"context"
	"fmt"
)

// External ids are unique per bucket among the files that exist (trashed
// ones keep theirs, so a restore never clashes). A clash answers CONFLICT,
// which must never tell a caller about a file it cannot see (CONTRACT §6).
// In an ORGANIZATION bucket everyone who may write sees every file. In a
// RESTRICTED bucket only admins and owners do, so only they may give a file
// an external id there (on upload, with updateFile, or by moving a file
// that has one into it): a member would otherwise learn from a CONFLICT
// that a hidden file holds the id. Clearing one is always allowed.

// mayHoldExternalID answers FORBIDDEN if the caller may not give a file an
// external id in bucket b.
func mayHoldExternalID(p *Principal, b *Bucket) error {
	if b.Access == AccessRestricted && !p.Role.IsAdmin() {
		return &Error{Code: EFORBIDDEN, Field: "externalId", Message: fmt.Sprintf(
			"in RESTRICTED bucket %q only admins and owners set external ids (they are unique across the bucket, whose files you do not all see)", b.Name)}
	}
	return nil
}

// checkExternalID checks that file self ("" for a new file) may have
// external id id in bucket b: the caller may set one there and no other
// file of the bucket has it. s works in the transaction that writes the
// file; the unique index decides a race with a concurrent writer.
// Returns FORBIDDEN or CONFLICT.
func (s *Service) checkExternalID(ctx context.Context, p *Principal, b *Bucket, id *string, self ID) error {
	if id == nil {
		return nil
	}
	if err := mayHoldExternalID(p, b); err != nil {
		return err
	}
	other, err := s.Store.FileByExternalID(ctx, p.OrgID, b.ID, *id)
	switch {
	case IsNotFound(err):
		return nil
	case err != nil:
		return err
	case other.ID == self:
		return nil
	}
	return ExternalIDTaken(b.Name, *id)
}

// ExternalIDTaken is the CONFLICT of an external id held by another file.
func ExternalIDTaken(bucket, id string) error {
	where := "this bucket"
	if bucket != "" {
		where = fmt.Sprintf("bucket %q", bucket)
	}
	return &Error{Code: ECONFLICT, Field: "externalId",
		Message: fmt.Sprintf("another file in %s has external id %q (trashed files keep theirs); choose another or clear it there first", where, id)}
}
