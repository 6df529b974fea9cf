package media

import (
	"context"
	"strings"
)

// MemberInput adds a member to the caller's organization.
type MemberInput struct {
	Email string
	Name  *string
	Role  Role
}

// AddMember adds a user to the caller's organization with a role. Only an
// OWNER may make another OWNER. The new member then gets keys through
// createApiKey(userId:).
// Returns FORBIDDEN without admin, BAD_USER_INPUT, CONFLICT if the e-mail is
// already a member.
func (s *Service) AddMember(ctx context.Context, in MemberInput) (*User, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if err := mayGrant(p, in.Role); err != nil {
		return nil, err
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if !strings.Contains(email, "@") || len(email) > 254 || strings.IndexFunc(email, isInvisible) >= 0 {
		return nil, Invalid("email", "not an e-mail address: %q", in.Email)
	}
	name := strings.SplitN(email, "@", 2)[0]
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 200 || strings.IndexFunc(name, isInvisible) >= 0 {
			return nil, Invalid("name", "a name is 1 to 200 printable characters")
		}
	}
	now := s.now()
	u := &User{ID: NewID(PrefixUser, now), OrgID: p.OrgID, Email: email, Name: name, Role: in.Role, CreatedAt: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, &Error{Code: ECONFLICT, Field: "email", Message: email + " is already a member"}
		}
		return nil, err
	}
	return u, nil
}

// UpdateMemberRole changes a member's role; it applies from the member's next
// request. Only an OWNER may make or unmake an OWNER, and the last OWNER
// stays one.
// Returns FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, CONFLICT for the last OWNER.
func (s *Service) UpdateMemberRole(ctx context.Context, userID ID, role Role) (*User, error) {
	p, u, err := s.memberFor(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := mayGrant(p, role); err != nil {
		return nil, err
	}
	if err := mayGrant(p, u.Role); err != nil {
		return nil, err
	}
	err = s.Store.InTx(ctx, func(tx Store) error {
		if err := keepAnOwner(ctx, tx, u, role != RoleOwner); err != nil {
			return err
		}
		return tx.SetUserRole(ctx, p.OrgID, u.ID, role)
	})
	if err != nil {
		return nil, err
	}
	s.accessChanged(ctx, p.OrgID)
	u.Role = role
	return u, nil
}

// RemoveMember removes a member and its API keys (they stop working at
// once). The files it uploaded stay.
// Returns FORBIDDEN, NOT_FOUND, CONFLICT for the last OWNER.
func (s *Service) RemoveMember(ctx context.Context, userID ID) (ID, error) {
	p, u, err := s.memberFor(ctx, userID)
	if err != nil {
		return "", err
	}
	if err := mayGrant(p, u.Role); err != nil {
		return "", err
	}
	err = s.Store.InTx(ctx, func(tx Store) error {
		if err := keepAnOwner(ctx, tx, u, true); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, p.OrgID, u.ID)
	})
	if err != nil {
		return "", err
	}
	s.accessChanged(ctx, p.OrgID)
	return u.ID, nil
}

func (s *Service) memberFor(ctx context.Context, userID ID) (*Principal, *User, error) {
	p, err := require(ctx, ScopeAdmin)
	if err != nil {
		return nil, nil, err
	}
	us, err := s.UsersByIDs(ctx, []ID{userID})
	if err != nil {
		return nil, nil, err
	}
	if us[0] == nil {
		return nil, nil, Errorf(ENOTFOUND, "user %s not found", userID)
	}
	return p, us[0], nil
}

// mayGrant: roles are valid, and only an OWNER deals in the OWNER role.
func mayGrant(p *Principal, role Role) error {
	if !role.Valid() {
		return Invalid("role", "role must be OWNER, ADMIN or MEMBER")
	}
	if role == RoleOwner && p.Role != RoleOwner {
		return Errorf(EFORBIDDEN, "only an OWNER may make, change or remove an OWNER")
	}
	return nil
}

// keepAnOwner refuses to take the OWNER role from the organization's last OWNER.
func keepAnOwner(ctx context.Context, tx Store, u *User, losing bool) error {
	if u.Role != RoleOwner || !losing {
		return nil
	}
	n, err := tx.CountOwners(ctx, u.OrgID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return Errorf(ECONFLICT, "%s is the organization's last OWNER; make another OWNER first", u.Email)
	}
	return nil
}
