package media

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// KeyPrefix starts every API key.
const KeyPrefix = "sk_"

// touchInterval limits lastUsedAt writes to one per key per interval.
const touchInterval = time.Minute

// newSecret returns a new API key: "sk_" and 32 base32 characters (160 bits).
func newSecret() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// HashKey returns the stored form of an API key. Keys carry 160 random bits,
// so a fast hash is enough: there is nothing to brute-force.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

var errBadKey = Errorf(EUNAUTHENTICATED, "the API key is not valid or has been revoked")

// Authenticate resolves an API key to its principal, with the user's role as
// it is now. Returns UNAUTHENTICATED for malformed, unknown or revoked keys.
func (s *Service) Authenticate(ctx context.Context, key string) (*Principal, error) {
	if !strings.HasPrefix(key, KeyPrefix) || len(key) != len(KeyPrefix)+32 {
		return nil, errBadKey
	}
	k, u, err := s.Store.APIKeyByHash(ctx, HashKey(key))
	if IsNotFound(err) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, errBadKey
	}
	now := s.now()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= touchInterval {
		if err := s.Store.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.Logger.WarnContext(ctx, "recording API key use", "key_id", k.ID, "err", err)
		}
	}
	return &Principal{OrgID: k.OrgID, UserID: u.ID, KeyID: k.ID, Role: u.Role, Scopes: k.Scopes, User: u}, nil
}

// Viewer describes the caller. Returns UNAUTHENTICATED without a key.
func (s *Service) Viewer(ctx context.Context) (*Viewer, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required: send Authorization: Bearer sk_…")
	}
	org, err := s.Store.Organization(ctx, p.OrgID)
	if err != nil {
		return nil, err
	}
	users, err := s.Store.UsersByIDs(ctx, p.OrgID, []ID{p.UserID})
	if err != nil {
		return nil, err
	}
	if len(users) != 1 {
		return nil, errBadKey
	}
	return &Viewer{User: users[0], Organization: org, Role: p.Role, Scopes: p.Scopes}, nil
}

// CreateAPIKeyInput describes a new key.
type CreateAPIKeyInput struct {
	Name   string
	Scopes []string
	// UserID makes the key for another member of the organization; nil is the caller.
	UserID *ID
}

// normalizeScopes validates and de-duplicates scopes, in AllScopes order.
func normalizeScopes(field string, scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, Invalid(field, "give at least one scope; known scopes: %s", strings.Join(AllScopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(AllScopes, sc) {
			return nil, Invalid(field, "unknown scope %q; known scopes: %s", sc, strings.Join(AllScopes, ", "))
		}
	}
	var out []string
	for _, sc := range AllScopes {
		if slices.Contains(scopes, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// CreateAPIKey makes a new key. The secret is returned once and only its
// hash is kept. A key for oneself may carry any of the calling key's
// scopes (admin only for ADMIN or OWNER users). A key for another member
// needs the admin scope and a role strictly higher than theirs; it never
// carries content scopes (posts and messages are personal) and records who
// made it (CONTRACT §6).
// Returns FORBIDDEN, NOT_FOUND for an unknown user, BAD_USER_INPUT for bad
// names or scopes.
func (s *Service) CreateAPIKey(ctx context.Context, in CreateAPIKeyInput) (*CreatedAPIKey, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required: send Authorization: Bearer sk_…")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, isInvisible) >= 0 {
		return nil, Invalid("name", "a key name must be 1 to 100 printable characters")
	}
	scopes, err := normalizeScopes("scopes", in.Scopes)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !p.Can(sc) {
			return nil, &Error{Code: EFORBIDDEN, Field: "scopes", Message: "a key cannot grant the " + sc + " scope, which the calling key lacks"}
		}
	}
	var createdBy *ID
	userID := p.UserID
	if in.UserID != nil && *in.UserID != p.UserID {
		if _, err := require(ctx, ScopeAdmin); err != nil {
			return nil, err
		}
		userID, createdBy = *in.UserID, &p.UserID
	}
	users, err := s.Store.UsersByIDs(ctx, p.OrgID, validIDs([]ID{userID}, PrefixUser))
	if err != nil {
		return nil, err
	}
	if len(users) != 1 {
		return nil, Errorf(ENOTFOUND, "user %s not found", userID)
	}
	if createdBy != nil {
		if err := outranks(p, users[0].Role); err != nil {
			return nil, err
		}
		for _, sc := range scopes {
			if sc == ScopeContentRead || sc == ScopeContentWrite {
				return nil, &Error{Code: EFORBIDDEN, Field: "scopes",
					Message: "a key made for another member cannot carry " + sc + ": posts, comments and messages are personal"}
			}
		}
	}
	return s.createKey(ctx, users[0], name, scopes, createdBy)
}

func (s *Service) createKey(ctx context.Context, u *User, name string, scopes []string, createdBy *ID) (*CreatedAPIKey, error) {
	if slices.Contains(scopes, ScopeAdmin) && !u.Role.IsAdmin() {
		return nil, &Error{Code: EINVALID, Field: "scopes", Message: "the admin scope needs a user with the ADMIN or OWNER role"}
	}
	secret := newSecret()
	now := s.now()
	k := &APIKey{ID: NewID(PrefixAPIKey, now), OrgID: u.OrgID, UserID: u.ID, Name: name,
		Prefix: secret[:len(KeyPrefix)+6], Hash: HashKey(secret), Scopes: scopes, CreatedAt: now, CreatedBy: createdBy}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return nil, err
	}
	return &CreatedAPIKey{Key: secret, APIKey: k}, nil
}

// APIKeyPage is a page of API keys; HasPreviousPage is true when it
// starts after a cursor.
type APIKeyPage struct {
	Keys                         []*APIKey
	HasNextPage, HasPreviousPage bool
}

// APIKeys lists a user's API keys, oldest first, revoked ones too: the
// caller's own (userID nil or the caller), or with the admin scope any
// member's of the organization. Keys come without their hashes; their
// secrets are never kept.
// Returns NOT_FOUND for a user not in the caller's organization,
// FORBIDDEN for another member's keys without admin, BAD_USER_INPUT for a
// bad page.
func (s *Service) APIKeys(ctx context.Context, userID *ID, first int, after *string) (*APIKeyPage, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required")
	}
	uid := p.UserID
	if userID != nil && *userID != p.UserID {
		users, err := s.Store.UsersByIDs(ctx, p.OrgID, validIDs([]ID{*userID}, PrefixUser))
		if err != nil {
			return nil, err
		}
		if len(users) != 1 {
			return nil, Errorf(ENOTFOUND, "user %s not found", *userID)
		}
		if _, err := require(ctx, ScopeAdmin); err != nil {
			return nil, err
		}
		uid = *userID
	}
	from, err := idCursor(first, after, PrefixAPIKey)
	if err != nil {
		return nil, err
	}
	ks, err := s.Store.ListAPIKeys(ctx, p.OrgID, uid, from, first+1)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		k.Hash = ""
	}
	page := &APIKeyPage{Keys: ks, HasPreviousPage: after != nil}
	if len(ks) > first {
		page.Keys, page.HasNextPage = ks[:first], true
	}
	return page, nil
}

// RevokeAPIKey revokes a key at once. Any key may revoke its own user's
// keys; other users' keys need the admin scope and a role strictly higher
// than their user's.
// Returns NOT_FOUND if the key does not exist in the caller's organization.
func (s *Service) RevokeAPIKey(ctx context.Context, id ID) (*APIKey, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, Errorf(EUNAUTHENTICATED, "an API key is required")
	}
	if !id.Valid(PrefixAPIKey) {
		return nil, Errorf(ENOTFOUND, "API key %s not found", id)
	}
	k, err := s.Store.APIKey(ctx, p.OrgID, id)
	if err != nil {
		return nil, err
	}
	if k.UserID != p.UserID {
		if _, err := require(ctx, ScopeAdmin); err != nil {
			return nil, err
		}
		users, err := s.Store.UsersByIDs(ctx, p.OrgID, []ID{k.UserID})
		if err != nil {
			return nil, err
		}
		if len(users) == 1 {
			if err := outranks(p, users[0].Role); err != nil {
				return nil, err
			}
		}
	}
	if err := s.Store.RevokeAPIKey(ctx, p.OrgID, id, s.now()); err != nil {
		return nil, err
	}
	s.accessChanged(ctx, p.OrgID)
	return s.Store.APIKey(ctx, p.OrgID, id)
}

// Bootstrap is for the CLI and development start: it makes sure the
// organization exists (creating it with an OWNER user, email, and the
// default buckets) and returns a new key for the user with that e-mail (the
// organization's first OWNER if email is empty). It runs without a caller.
func (s *Service) Bootstrap(ctx context.Context, orgName, email string, scopes []string) (*CreatedAPIKey, *Organization, error) {
	orgName = strings.TrimSpace(orgName)
	if orgName == "" || len(orgName) > 100 {
		return nil, nil, Invalid("org", "an organization name must be 1 to 100 characters")
	}
	scopes, err := normalizeScopes("scopes", scopes)
	if err != nil {
		return nil, nil, err
	}
	if email == "" {
		email = "owner@" + slug(orgName) + ".local"
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") || len(email) > 254 {
		return nil, nil, Invalid("email", "not an e-mail address: %q", email)
	}
	now := s.now()
	org, err := s.Store.OrganizationByName(ctx, orgName)
	if IsNotFound(err) {
		org = &Organization{ID: NewID(PrefixOrganization, now), Name: orgName, CreatedAt: now}
		err = s.Store.InTx(ctx, func(tx Store) error {
			if err := tx.CreateOrganization(ctx, org); err != nil {
				return err
			}
			return tx.CreateUser(ctx, &User{ID: NewID(PrefixUser, now), OrgID: org.ID, Email: email,
				Name: strings.SplitN(email, "@", 2)[0], Role: RoleOwner, CreatedAt: now})
		})
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.Store.UserByEmail(ctx, org.ID, email)
	if IsNotFound(err) {
		u = &User{ID: NewID(PrefixUser, now), OrgID: org.ID, Email: email,
			Name: strings.SplitN(email, "@", 2)[0], Role: RoleMember, CreatedAt: now}
		err = s.Store.CreateUser(ctx, u)
	}
	if err != nil {
		return nil, nil, err
	}
	key, err := s.createKey(ctx, u, "cli", scopes, nil)
	if err != nil {
		return nil, nil, err
	}
	return key, org, nil
}

// Organizations lists every organization (CLI only; no caller).
func (s *Service) Organizations(ctx context.Context) ([]*Organization, error) {
	return s.Store.ListOrganizations(ctx)
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if out := strings.Trim(b.String(), "-"); out != "" {
		return out
	}
	return "org"
}

// BootstrapUser adds a user with a role to an existing organization, or
// changes the role of the user with that e-mail (CLI only; no caller).
// Returns NOT_FOUND for an unknown organization, BAD_USER_INPUT.
func (s *Service) BootstrapUser(ctx context.Context, orgName, email string, role Role) (*User, error) {
	if !role.Valid() {
		return nil, Invalid("role", "role must be OWNER, ADMIN or MEMBER")
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") || len(email) > 254 {
		return nil, Invalid("email", "not an e-mail address: %q", email)
	}
	org, err := s.Store.OrganizationByName(ctx, orgName)
	if err != nil {
		return nil, err
	}
	if u, err := s.Store.UserByEmail(ctx, org.ID, email); err == nil {
		return u, Errorf(ECONFLICT, "%s is already a member of %s", email, orgName)
	} else if !IsNotFound(err) {
		return nil, err
	}
	now := s.now()
	u := &User{ID: NewID(PrefixUser, now), OrgID: org.ID, Email: email,
		Name: strings.SplitN(email, "@", 2)[0], Role: role, CreatedAt: now}
	return u, s.Store.CreateUser(ctx, u)
}
