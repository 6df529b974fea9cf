package media

import (
	"context"
	"slices"
)

// Role is a member's role in an organization.
type Role string

const (
	RoleOwner  Role = "OWNER"
	RoleAdmin  Role = "ADMIN"
	RoleMember Role = "MEMBER"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// IsAdmin reports whether r may administer the organization.
func (r Role) IsAdmin() bool { return r == RoleOwner || r == RoleAdmin }

// Scopes an API key can carry (CONTRACT.md §1).
const (
	ScopeMediaRead    = "media:read"
	ScopeMediaCreate  = "media:create"
	ScopeMediaUpdate  = "media:update"
	ScopeMediaDelete  = "media:delete"
	ScopeContentRead  = "content:read"
	ScopeContentWrite = "content:write"
	ScopeAdmin        = "admin"
)

// AllScopes lists every scope, in a stable order.
var AllScopes = []string{ScopeMediaRead, ScopeMediaCreate, ScopeMediaUpdate, ScopeMediaDelete,
	ScopeContentRead, ScopeContentWrite, ScopeAdmin}

// Principal is the authenticated caller of a request: an API key, its user
// and organization, and the user's role at the time of the request.
type Principal struct {
	OrgID  ID
	UserID ID
	KeyID  ID
	Role   Role
	Scopes []string
	// User is the caller's user as read when the key was authenticated,
	// for the operation that authentication serves (see loader.PrimeCaller).
	User *User
}

// Can reports whether the principal may act with scope: its key must carry
// the scope and, for admin, its user must be an ADMIN or OWNER now.
func (p *Principal) Can(scope string) bool {
	if p == nil || !slices.Contains(p.Scopes, scope) {
		return false
	}
	if scope == ScopeAdmin {
		return p.Role.IsAdmin()
	}
	return true
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// require returns the caller, or UNAUTHENTICATED if there is none, or
// FORBIDDEN if it may not act with scope.
func require(ctx context.Context, scope string) (*Principal, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required: send Authorization: Bearer sk_…")
	}
	if !slices.Contains(p.Scopes, scope) {
		return nil, Errorf(EFORBIDDEN, "this API key lacks the %q scope", scope)
	}
	if scope == ScopeAdmin && !p.Role.IsAdmin() {
		return nil, Errorf(EFORBIDDEN, "this needs the ADMIN or OWNER role")
	}
	return p, nil
}
