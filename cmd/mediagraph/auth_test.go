package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestViewerAndKeys(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		d := e.ok(e.owner, `{ viewer { role scopes user { id email role } organization { id name } } }`, nil)
		v := d["viewer"].(map[string]any)
		if v["role"] != "OWNER" || v["organization"].(map[string]any)["name"] != "acme" {
			t.Fatalf("viewer: %v", v)
		}
		if len(v["scopes"].([]any)) != len(media.AllScopes) {
			t.Fatalf("scopes: %v", v["scopes"])
		}

		// A key is shown once, starts with sk_, and works at once.
		d = e.ok(e.owner, `mutation { createApiKey(input: {name: "ci", scopes: ["media:read"]}) { key apiKey { id name prefix scopes lastUsedAt revokedAt user { email } } } }`, nil)
		created := d["createApiKey"].(map[string]any)
		key := created["key"].(string)
		ak := created["apiKey"].(map[string]any)
		if !strings.HasPrefix(key, "sk_") || !strings.HasPrefix(key, ak["prefix"].(string)) || ak["lastUsedAt"] != nil {
			t.Fatalf("created key: %v", created)
		}
		d = e.ok(key, `{ viewer { scopes } }`, nil)
		if s := d["viewer"].(map[string]any)["scopes"].([]any); len(s) != 1 || s[0] != "media:read" {
			t.Fatalf("scopes of new key: %v", s)
		}
		// lastUsedAt is recorded.
		d = e.ok(e.owner, `query($id: ID!) { node(id: $id) { ... on ApiKey { lastUsedAt } } }`, map[string]any{"id": ak["id"]})
		if d["node"].(map[string]any)["lastUsedAt"] == nil {
			t.Fatal("lastUsedAt not recorded")
		}
		// The secret is stored hashed: no row holds it.
		var n int
		if err := e.m.DB.Bun().NewRaw("SELECT count(*) FROM api_keys WHERE hash = ?", key).Scan(t.Context(), &n); err != nil || n != 0 {
			t.Fatalf("key stored in clear: %d %v", n, err)
		}

		// Revoked keys stop working at once.
		e.ok(e.owner, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": ak["id"]})
		r := e.do(key, `{ viewer { role } }`, nil)
		if r.Status != http.StatusUnauthorized || r.code() != media.EUNAUTHENTICATED {
			t.Fatalf("revoked key: %d %s", r.Status, r.raw)
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.fails(media.EUNAUTHENTICATED, "", `{ viewer { role } }`, nil)
		e.fails(media.EUNAUTHENTICATED, "", `{ files { totalCount } }`, nil)
		for _, bad := range []string{"sk_nope", "sk_" + strings.Repeat("a", 32), "Basic abc", e.owner + "x"} {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query":"{ viewer { role } }"}`))
			req.Header.Set("Content-Type", "application/json")
			if strings.HasPrefix(bad, "Basic") {
				req.Header.Set("Authorization", bad)
			} else {
				req.Header.Set("Authorization", "Bearer "+bad)
			}
			r := e.send(req)
			if r.Status != http.StatusUnauthorized || r.code() != media.EUNAUTHENTICATED {
				t.Fatalf("key %q: %d %s", bad, r.Status, r.raw)
			}
		}
	})
}

func TestScopesAndRoles(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "photos"})
		readOnly := e.newKey([]string{media.ScopeMediaRead}, "")
		memberID := e.member("mia@acme.test", media.RoleMember)
		member := e.newKey([]string{media.ScopeMediaRead, media.ScopeMediaCreate, media.ScopeMediaDelete}, memberID)
		adminID := e.member("ada@acme.test", media.RoleAdmin)
		admin := e.newKey(media.AllScopes, adminID)

		// Scope: media:read cannot upload, create buckets, or make a key
		// with more than it has (a key for oneself with its own scopes is fine).
		if r := e.upload(readOnly, "photos", upload{"a.png", "image/png", pngBytes(4, 4)}, nil); r.code() != media.EFORBIDDEN {
			t.Fatalf("upload with media:read: %s", r.raw)
		}
		e.fails(media.EFORBIDDEN, readOnly, `mutation { createBucket(input: {name: "x"}) { id } }`, nil)
		e.fails(media.EFORBIDDEN, readOnly, `mutation { createApiKey(input: {name: "x", scopes: ["media:create"]}) { key } }`, nil)
		e.ok(readOnly, `mutation { createApiKey(input: {name: "x", scopes: ["media:read"]}) { key } }`, nil)

		// Role: the admin scope is refused to a MEMBER's key, and a MEMBER
		// cannot administer even through a key that would carry it.
		e.fails(media.EINVALID, e.owner, `mutation($u: ID!) { createApiKey(input: {name: "x", scopes: ["admin"], userId: $u}) { key } }`, map[string]any{"u": memberID})
		e.fails(media.EFORBIDDEN, member, `mutation { createBucket(input: {name: "x"}) { id } }`, nil)
		// A key cannot grant scopes its creator lacks.
		limitedAdmin := e.newKey([]string{media.ScopeAdmin}, adminID)
		e.fails(media.EFORBIDDEN, limitedAdmin, `mutation { createApiKey(input: {name: "x", scopes: ["media:delete"]}) { key } }`, nil)
		e.fails(media.EINVALID, e.owner, `mutation { createApiKey(input: {name: "x", scopes: ["media:everything"]}) { key } }`, nil)

		// An ADMIN administers; a role change applies to the next request.
		e.ok(admin, `mutation { createBucket(input: {name: "by-admin"}) { id } }`, nil)
		if _, err := e.m.DB.Bun().NewRaw("UPDATE users SET role = 'MEMBER' WHERE id = ?", adminID).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.fails(media.EFORBIDDEN, admin, `mutation { createBucket(input: {name: "by-demoted"}) { id } }`, nil)

		// Deleting: the uploader may; another member may not; an admin may.
		mine := e.mustUpload(member, "photos", upload{"mine.png", "", pngBytes(3, 3)}, nil)
		owners := e.mustUpload(e.owner, "photos", upload{"owners.png", "", pngBytes(5, 5)}, nil)
		e.fails(media.EFORBIDDEN, member, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": owners["id"]})
		e.ok(member, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": mine["id"]})
		e.ok(e.owner, `mutation($id: ID!) { deleteFile(id: $id) }`, map[string]any{"id": owners["id"]})

		// Only the caller's own keys can be revoked without admin.
		d := e.ok(e.owner, `mutation { createApiKey(input: {name: "o", scopes: ["media:read"]}) { apiKey { id } } }`, nil)
		ownerKeyID := d["createApiKey"].(map[string]any)["apiKey"].(map[string]any)["id"]
		e.fails(media.EFORBIDDEN, member, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": ownerKeyID})
	})
}
