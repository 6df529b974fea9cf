package main

import (
	"net/http"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestMembers(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		add := `mutation($i: AddMemberInput!) { addMember(input: $i) { id email name role } }`
		d := e.ok(e.owner, add, map[string]any{"i": map[string]any{"email": "Ada@Acme.test", "name": "Ada", "role": "ADMIN"}})
		ada := d["addMember"].(map[string]any)
		if ada["email"] != "ada@acme.test" || ada["role"] != "ADMIN" || ada["name"] != "Ada" {
			t.Fatalf("added: %v", ada)
		}
		e.fails(media.ECONFLICT, e.owner, add, map[string]any{"i": map[string]any{"email": "ada@acme.test"}})
		e.fails(media.EINVALID, e.owner, add, map[string]any{"i": map[string]any{"email": "nope"}})
		adaKey := e.newKey(media.AllScopes, str(ada["id"]))

		// An ADMIN manages members but not OWNERs.
		d = e.ok(adaKey, add, map[string]any{"i": map[string]any{"email": "bob@acme.test"}})
		bob := d["addMember"].(map[string]any)
		if bob["role"] != "MEMBER" {
			t.Fatalf("default role: %v", bob)
		}
		e.fails(media.EFORBIDDEN, adaKey, add, map[string]any{"i": map[string]any{"email": "eve@acme.test", "role": "OWNER"}})
		owner := e.ok(e.owner, `{ viewer { user { id } } }`, nil)["viewer"].(map[string]any)["user"].(map[string]any)["id"]
		role := `mutation($u: ID!, $r: Role!) { updateMemberRole(userId: $u, role: $r) { role } }`
		e.fails(media.EFORBIDDEN, adaKey, role, map[string]any{"u": owner, "r": "MEMBER"})
		// The last OWNER stays one.
		e.fails(media.ECONFLICT, e.owner, role, map[string]any{"u": owner, "r": "ADMIN"})
		e.fails(media.ECONFLICT, e.owner, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": owner})

		// A member without admin cannot manage members.
		bobKey := e.newKey([]string{media.ScopeMediaRead}, str(bob["id"]))
		e.fails(media.EFORBIDDEN, bobKey, add, map[string]any{"i": map[string]any{"email": "x@acme.test"}})

		// Roles apply at once; removing a member kills its keys.
		e.ok(e.owner, role, map[string]any{"u": ada["id"], "r": "MEMBER"})
		e.fails(media.EFORBIDDEN, adaKey, `mutation { createBucket(input: {name: "x"}) { id } }`, nil)
		e.ok(e.owner, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": bob["id"]})
		if r := e.do(bobKey, `{ viewer { role } }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("removed member's key: %d %s", r.Status, r.raw)
		}
		// Another organization's users are NOT_FOUND.
		other := e.otherOrg()
		e.fails(media.ENOTFOUND, other, role, map[string]any{"u": ada["id"], "r": "ADMIN"})
		e.fails(media.ENOTFOUND, other, `mutation($u: ID!) { removeMember(userId: $u) }`, map[string]any{"u": ada["id"]})
	})
}
