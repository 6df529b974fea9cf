package main

import (
	"fmt"
	"testing"

	"github.com/mediagraph/mediagraph/media"
)

func TestContentFlows(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		existing := e.mustUpload(e.owner, "b", upload{"existing.png", "", pngBytes(5, 4)}, nil)
		// createPost with an existing file and two uploads in one multipart request.
		q := `mutation($in: CreatePostInput!) { createPost(input: $in) { id title author { email } visibility
			attachments(orderBy: {field: NAME, direction: ASC}) { totalCount nodes { name bucket { name access } } } } }`
		r := e.multipart(e.owner, q, map[string]any{"in": map[string]any{"title": "Launch", "body": "b", "attachmentIds": []any{existing["id"]}, "files": []any{nil, nil}}},
			map[string]upload{"0": {"a.png", "", pngBytes(6, 6)}, "1": {"b.png", "", pngBytes(7, 7)}},
			map[string][]string{"0": {"variables.in.files.0"}, "1": {"variables.in.files.1"}})
		if len(r.Errors) > 0 {
			t.Fatalf("createPost: %s", r.raw)
		}
		post := r.Data["createPost"].(map[string]any)
		att := post["attachments"].(map[string]any)
		if att["totalCount"] != float64(3) || post["author"].(map[string]any)["email"] != "owner@acme.test" {
			t.Fatalf("post: %v", post)
		}
		if b := att["nodes"].([]any)[0].(map[string]any)["bucket"].(map[string]any); b["name"] != "attachments" || b["access"] != "RESTRICTED" {
			t.Fatalf("uploads go to the attachments bucket: %v", b)
		}
		// A failed upload in createPost leaves no post and no files.
		e.createBucket(e.owner, map[string]any{"name": "imgs", "allowedMimeTypes": []string{"image/*"}})
		r = e.multipart(e.owner, `mutation($in: CreatePostInput!) { createPost(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"title": "Bad", "files": []any{nil}, "attachmentIds": []any{"file_0000000000000000000000000z"}}},
			map[string]upload{"0": {"c.png", "", pngBytes(8, 8)}}, map[string][]string{"0": {"variables.in.files.0"}})
		if r.code() != media.ENOTFOUND {
			t.Fatalf("createPost with a missing file: %s", r.raw)
		}
		d := e.ok(e.owner, `{ posts { nodes { title } } files { totalCount } }`, nil)
		if len(d["posts"].(map[string]any)["nodes"].([]any)) != 1 || d["files"].(map[string]any)["totalCount"] != float64(3) {
			t.Fatalf("a failed createPost left something: %v", d)
		}
		// Comments with attachments; conversations and messages.
		d = e.ok(e.owner, `mutation($p: ID!, $f: ID!) { createComment(input: {postId: $p, body: "nice", attachmentIds: [$f]}) { id post { title } attachments { totalCount } } }`,
			map[string]any{"p": post["id"], "f": existing["id"]})
		if c := d["createComment"].(map[string]any); c["post"].(map[string]any)["title"] != "Launch" || c["attachments"].(map[string]any)["totalCount"] != float64(1) {
			t.Fatalf("comment: %v", c)
		}
		d = e.ok(e.owner, `query($id: ID!) { post(id: $id) { comments { nodes { body } pageInfo { hasNextPage } } } file(id: "`+str(existing["id"])+`") { usageCount usages { target { __typename } } } }`, map[string]any{"id": post["id"]})
		if len(d["post"].(map[string]any)["comments"].(map[string]any)["nodes"].([]any)) != 1 || d["file"].(map[string]any)["usageCount"] != float64(2) {
			t.Fatalf("comments/usages: %v", d)
		}
		d = e.ok(e.owner, `mutation { createConversation(input: {title: "team", memberIds: []}) { id members { email } } }`, nil)
		conv := d["createConversation"].(map[string]any)
		for i := range 3 {
			e.ok(e.owner, `mutation($c: ID!, $b: String!) { sendMessage(input: {conversationId: $c, body: $b}) { id conversation { id } } }`,
				map[string]any{"c": conv["id"], "b": fmt.Sprint("m", i)})
		}
		d = e.ok(e.owner, `query($c: ID!) { conversation(id: $c) { messages(first: 2) { nodes { body } pageInfo { hasNextPage endCursor } } } }`, map[string]any{"c": conv["id"]})
		msgs := d["conversation"].(map[string]any)["messages"].(map[string]any)
		if len(msgs["nodes"].([]any)) != 2 || msgs["pageInfo"].(map[string]any)["hasNextPage"] != true {
			t.Fatalf("messages: %v", msgs)
		}
		d = e.ok(e.owner, `query($c: ID!, $a: String) { conversation(id: $c) { messages(first: 2, after: $a) { nodes { body } } } }`,
			map[string]any{"c": conv["id"], "a": msgs["pageInfo"].(map[string]any)["endCursor"]})
		if n := d["conversation"].(map[string]any)["messages"].(map[string]any)["nodes"].([]any); len(n) != 1 || n[0].(map[string]any)["body"] != "m2" {
			t.Fatalf("messages page 2: %v", n)
		}
		// Trashing a file in use is allowed; attachment lists hide it until it is restored.
		count := func() any {
			return e.ok(e.owner, `query($id: ID!) { post(id: $id) { attachments { totalCount } } }`, map[string]any{"id": post["id"]})["post"].(map[string]any)["attachments"].(map[string]any)["totalCount"]
		}
		e.ok(e.owner, `mutation($id: ID!) { trashFile(id: $id) { id } }`, map[string]any{"id": existing["id"]})
		if n := count(); n != float64(2) {
			t.Fatalf("a trashed attachment is listed: %v", n)
		}
		e.ok(e.owner, `mutation($id: ID!) { restoreFile(id: $id) { id } }`, map[string]any{"id": existing["id"]})
		if n := count(); n != float64(3) {
			t.Fatalf("a restored attachment is not listed: %v", n)
		}
		// Deleting a post detaches its files (and its comments'), which stay.
		e.ok(e.owner, `mutation($id: ID!) { deletePost(id: $id) }`, map[string]any{"id": post["id"]})
		d = e.ok(e.owner, `query($f: ID!) { file(id: $f) { usageCount } }`, map[string]any{"f": existing["id"]})
		if d["file"].(map[string]any)["usageCount"] != float64(0) {
			t.Fatalf("usages after deletePost: %v", d)
		}
	})
}

// TestPostsQueryCount: a page of posts with their attachments, the
// attachments' usages, their comments and the authors costs the same
// queries for 10 and 50 posts.
func TestPostsQueryCount(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createBucket(e.owner, map[string]any{"name": "b"})
		f1 := e.mustUpload(e.owner, "b", upload{"1.png", "", pngBytes(3, 3)}, nil)
		f2 := e.mustUpload(e.owner, "b", upload{"2.png", "", pngBytes(4, 3)}, nil)
		for i := range 50 {
			d := e.ok(e.owner, `mutation($t: String!, $a: [ID!]) { createPost(input: {title: $t, attachmentIds: $a}) { id } }`,
				map[string]any{"t": fmt.Sprint("p", i), "a": []any{f1["id"], f2["id"]}})
			e.ok(e.owner, `mutation($p: ID!) { createComment(input: {postId: $p, body: "c"}) { id } }`,
				map[string]any{"p": d["createPost"].(map[string]any)["id"]})
		}
		q := `query($n: Int) { posts(first: $n) { nodes { id title author { email } attachments(first: 5) { totalCount
			nodes { id name tags bucket { name } usageCount usages { attachedAt attachedBy { email } target { __typename } } } }
			comments(first: 3) { nodes { body author { email } } } } } }`
		counts := map[int]int{}
		for _, n := range []int{10, 50} {
			d := e.ok(e.owner, q, map[string]any{"n": n})
			posts := d["posts"].(map[string]any)["nodes"].([]any)
			if len(posts) != n || posts[0].(map[string]any)["attachments"].(map[string]any)["totalCount"] != float64(2) {
				t.Fatalf("posts: %v", d)
			}
			counts[n] = e.queries.fewest(func() { e.ok(e.owner, q, map[string]any{"n": n}) })
		}
		if counts[10] != counts[50] || counts[10] > 12 {
			t.Fatalf("queries for 10 and 50 posts: %v", counts)
		}
		t.Logf("queries for a page of posts: %v", counts)
	})
}
