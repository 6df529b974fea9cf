package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mediagraph/mediagraph/graph"
	"github.com/mediagraph/mediagraph/media"
)

// denial is one request of the authorization table that must be refused
// with code, and change nothing.
type denial struct {
	actor string
	query string
	vars  func(w *world) map[string]any
	// file, if set, sends the request as multipart with these bytes at
	// variables.<file>.
	file string
	code string
}

// authzTable lists, for every Mutation field, requests the policy of
// CONTRACT §6 must refuse: another organization's objects, objects the
// caller cannot see, rights the caller's role or relation to the object
// does not give, and scopes its key lacks. TestAuthorizationTable fails
// for a mutation of the schema that has no row here, so a new mutation
// cannot ship unchecked.
var authzTable = map[string][]denial{
	"uploadFile": {
		{actor: "m2ro", file: "input.file", query: `mutation($input: UploadFileInput!) { uploadFile(input: $input) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"input": map[string]any{"bucket": "org", "file": nil}}
			}, code: media.EFORBIDDEN},
		{actor: "m2", file: "input.file", query: `mutation($input: UploadFileInput!) { uploadFile(input: $input) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"input": map[string]any{"attachTo": w.postP, "file": nil}}
			}, code: media.ENOTFOUND},
		{actor: "m2", file: "input.file", query: `mutation($input: UploadFileInput!) { uploadFile(input: $input) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"input": map[string]any{"attachTo": w.postW, "file": nil}}
			}, code: media.EFORBIDDEN},
		{actor: "outsider", file: "input.file", query: `mutation($input: UploadFileInput!) { uploadFile(input: $input) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"input": map[string]any{"bucket": "org", "file": nil}}
			}, code: media.ENOTFOUND},
	},
	"uploadFiles": {
		{actor: "outsider", file: "inputs.0.file", query: `mutation($inputs: [UploadFileInput!]!) { uploadFiles(inputs: $inputs) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"inputs": []any{map[string]any{"bucket": "org", "file": nil}}}
			}, code: media.ENOTFOUND},
		{actor: "m2", file: "inputs.0.file", query: `mutation($inputs: [UploadFileInput!]!) { uploadFiles(inputs: $inputs) { id } }`,
			vars: func(w *world) map[string]any {
				return map[string]any{"inputs": []any{map[string]any{"attachTo": w.msg, "file": nil}}}
			}, code: media.ENOTFOUND},
	},
	"uploadFileBase64": {
		{actor: "m2ro", query: `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"i": base64Input("org", "x.png")} }, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($i: UploadFileBase64Input!) { uploadFileBase64(input: $i) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"i": base64Input("org", "x.png")} }, code: media.ENOTFOUND},
	},
	"createUploadSession": {
		{actor: "m2ro", query: createSession,
			vars: func(w *world) map[string]any {
				return map[string]any{"i": map[string]any{"bucket": "org", "name": "s.bin", "size": 10, "mimeType": "application/octet-stream"}}
			}, code: media.EFORBIDDEN},
		{actor: "outsider", query: createSession,
			vars: func(w *world) map[string]any {
				return map[string]any{"i": map[string]any{"bucket": "org", "name": "s.bin", "size": 10, "mimeType": "application/octet-stream"}}
			}, code: media.ENOTFOUND},
	},
	"completeUploadSession": {
		{actor: "m2", query: `mutation($id: ID!) { completeUploadSession(id: $id) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.session} }, code: media.ENOTFOUND},
		{actor: "outsider", query: `mutation($id: ID!) { completeUploadSession(id: $id) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.session} }, code: media.ENOTFOUND},
	},
	"abortUploadSession": {
		{actor: "m2", query: `mutation($id: ID!) { abortUploadSession(id: $id) }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.session} }, code: media.ENOTFOUND},
		{actor: "admin", query: `mutation($id: ID!) { abortUploadSession(id: $id) }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.session} }, code: media.ENOTFOUND},
	},
	"updateFile": {
		{actor: "m2", query: updateFileQ, vars: fileVars("res", map[string]any{"caption": "x"}), code: media.ENOTFOUND},
		{actor: "m2", query: updateFileQ, vars: fileVars("resW", map[string]any{"caption": "x"}), code: media.EFORBIDDEN},
		{actor: "m2", query: updateFileQ, vars: fileVars("org", map[string]any{"visibility": "PUBLIC"}), code: media.EFORBIDDEN},
		{actor: "m2ro", query: updateFileQ, vars: fileVars("org", map[string]any{"caption": "x"}), code: media.EFORBIDDEN},
		{actor: "outsider", query: updateFileQ, vars: fileVars("org", map[string]any{"caption": "x"}), code: media.ENOTFOUND},
	},
	"deleteFile": {
		{actor: "m2", query: `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, vars: fileVars("res", nil), code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, vars: fileVars("held", nil), code: media.ECONFLICT},
		{actor: "outsider", query: `mutation($id: ID!) { deleteFile(id: $id, force: true) }`, vars: fileVars("org", nil), code: media.ENOTFOUND},
	},
	"createPost": {
		{actor: "m2ro", query: `mutation { createPost(input: {title: "t"}) { id } }`, code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($a: [ID!]) { createPost(input: {title: "t", attachmentIds: $a}) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"a": []string{w.files["res"]}} }, code: media.ENOTFOUND},
	},
	"updatePost": {
		{actor: "m2", query: `mutation($id: ID!) { updatePost(id: $id, input: {title: "x"}) { id } }`, vars: postVars("W"), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { updatePost(id: $id, input: {title: "x"}) { id } }`, vars: postVars("P"), code: media.ENOTFOUND},
		{actor: "outsider", query: `mutation($id: ID!) { updatePost(id: $id, input: {title: "x"}) { id } }`, vars: postVars("W"), code: media.ENOTFOUND},
	},
	"deletePost": {
		{actor: "m2", query: `mutation($id: ID!) { deletePost(id: $id) }`, vars: postVars("W"), code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { deletePost(id: $id) }`, vars: postVars("W"), code: media.ENOTFOUND},
	},
	"createComment": {
		{actor: "m2", query: `mutation($id: ID!) { createComment(input: {postId: $id, body: "b"}) { id } }`, vars: postVars("P"), code: media.ENOTFOUND},
		{actor: "m2", query: `mutation($id: ID!, $a: [ID!]) { createComment(input: {postId: $id, body: "b", attachmentIds: $a}) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.postW, "a": []string{w.files["res"]}} }, code: media.ENOTFOUND},
		{actor: "outsider", query: `mutation($id: ID!) { createComment(input: {postId: $id, body: "b"}) { id } }`, vars: postVars("W"), code: media.ENOTFOUND},
	},
	"createConversation": {
		{actor: "m2ro", query: `mutation { createConversation(input: {title: "c", memberIds: []}) { id } }`, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($m: ID!) { createConversation(input: {memberIds: [$m]}) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"m": w.ids["m1"]} }, code: media.EINVALID},
	},
	"removeConversationMember": {
		{actor: "m2", query: `mutation($c: ID!, $u: ID!) { removeConversationMember(conversationId: $c, userId: $u) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"c": w.conv, "u": w.ids["m1"]} }, code: media.ENOTFOUND},
		{actor: "m1", query: `mutation($c: ID!, $u: ID!) { removeConversationMember(conversationId: $c, userId: $u) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"c": w.conv, "u": w.ids["admin"]} }, code: media.EFORBIDDEN},
	},
	"sendMessage": {
		{actor: "m2", query: `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "b"}) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"c": w.conv} }, code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: "b"}) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"c": w.conv} }, code: media.ENOTFOUND},
	},
	"attachFiles": {
		{actor: "m2", query: attachQ, vars: attachVars("W", "org"), code: media.EFORBIDDEN},
		{actor: "m1", query: attachQ, vars: attachVars("W", "m2private"), code: media.ENOTFOUND},
		{actor: "m2", query: attachQ, vars: attachVars("P", "org"), code: media.ENOTFOUND},
	},
	"detachFiles": {
		{actor: "m2", query: `mutation($t: ID!, $f: ID!) { detachFiles(targetId: $t, fileIds: [$f]) { __typename } }`,
			vars: attachVars("W", "resW"), code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($t: ID!, $f: ID!) { detachFiles(targetId: $t, fileIds: [$f]) { __typename } }`,
			vars: attachVars("W", "resW"), code: media.ENOTFOUND},
	},
	"copyFiles": {
		{actor: "m2", query: `mutation($id: ID!) { copyFiles(input: {ids: [$id], targetPath: "/copies/"}) { id } }`, vars: fileVars("res", nil), code: media.ENOTFOUND},
		{actor: "m2ro", query: `mutation($id: ID!) { copyFiles(input: {ids: [$id], targetPath: "/copies/"}) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
	},
	"moveFiles": {
		{actor: "m2", query: `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetBucket: "org2", targetPath: "/"}) { id } }`,
			vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetPath: "/x/"}) { id } }`, vars: fileVars("res", nil), code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($id: ID!) { moveFiles(input: {ids: [$id], targetBucket: "org2", targetPath: "/"}) { id } }`,
			vars: fileVars("held", nil), code: media.ECONFLICT},
	},
	"createFolder": {
		{actor: "m2ro", query: `mutation { createFolder(bucket: "org", path: "/new/") { path } }`, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation { createFolder(bucket: "org", path: "/new/") { path } }`, code: media.ENOTFOUND},
		{actor: "admin", query: `mutation { createFolder(bucket: "globex-only", path: "/new/") { path } }`, code: media.ENOTFOUND},
	},
	"moveFolder": {
		// m1's file: m2 may not take it to another bucket.
		{actor: "m2", query: `mutation { moveFolder(bucket: "org", path: "/team/", targetBucket: "org2", targetPath: "/team/") { path } }`,
			code: media.EFORBIDDEN},
		{actor: "m2ro", query: `mutation { moveFolder(bucket: "org", path: "/team/", targetPath: "/t2/") { path } }`, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation { moveFolder(bucket: "org", path: "/team/", targetPath: "/t2/") { path } }`, code: media.ENOTFOUND},
		{actor: "admin", query: `mutation { moveFolder(bucket: "org", path: "/team/", targetBucket: "globex-only", targetPath: "/t/") { path } }`,
			code: media.ENOTFOUND},
		// A held file cannot leave its bucket.
		{actor: "owner", query: `mutation { moveFolder(bucket: "org", path: "/legal/", targetBucket: "org2", targetPath: "/legal/") { path } }`,
			code: media.ECONFLICT},
		// The folder of a private post's upload: m2 sees nothing in it.
		{actor: "m2", query: `mutation($p: String!) { moveFolder(bucket: "attachments", path: $p, targetPath: "/mine/") { path } }`,
			vars: folderOf("resP"), code: media.ENOTFOUND},
	},
	"trashFolder": {
		{actor: "m2", query: `mutation { trashFolder(bucket: "org", path: "/team/") }`, code: media.EFORBIDDEN},
		{actor: "m2ro", query: `mutation { trashFolder(bucket: "org", path: "/team/") }`, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation { trashFolder(bucket: "org", path: "/team/") }`, code: media.ENOTFOUND},
		{actor: "owner", query: `mutation { trashFolder(bucket: "org", path: "/legal/") }`, code: media.ECONFLICT},
		{actor: "m2", query: `mutation($p: String!) { trashFolder(bucket: "attachments", path: $p) }`, vars: folderOf("resP"),
			code: media.ENOTFOUND},
	},
	"replaceFileContent": {
		{actor: "m2", file: "f", query: `mutation($id: ID!, $f: Upload!) { replaceFileContent(id: $id, file: $f, keepPrevious: false) { id } }`,
			vars: fileVars("org", map[string]any{"f": nil}), code: media.EFORBIDDEN},
		{actor: "m2", file: "f", query: `mutation($id: ID!, $f: Upload!) { replaceFileContent(id: $id, file: $f) { id } }`,
			vars: fileVars("res", map[string]any{"f": nil}), code: media.ENOTFOUND},
		{actor: "m2ro", file: "f", query: `mutation($id: ID!, $f: Upload!) { replaceFileContent(id: $id, file: $f) { id } }`,
			vars: fileVars("org", map[string]any{"f": nil}), code: media.EFORBIDDEN},
	},
	"restoreFileRevision": {
		{actor: "m2", query: `mutation($id: ID!) { restoreFileRevision(id: $id, revision: 1) { id } }`, vars: fileVars("res", nil), code: media.ENOTFOUND},
		{actor: "m2ro", query: `mutation($id: ID!) { restoreFileRevision(id: $id, revision: 1) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
	},
	"deleteFileRevision": {
		{actor: "m2", query: `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 1) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 1) { id } }`, vars: fileVars("res", nil), code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($id: ID!) { deleteFileRevision(id: $id, revision: 1) { id } }`, vars: fileVars("held", nil), code: media.ECONFLICT},
	},
	"trashFile": {
		{actor: "m2", query: `mutation($id: ID!) { trashFile(id: $id) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { trashFile(id: $id) { id } }`, vars: fileVars("resP", nil), code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($id: ID!) { trashFile(id: $id) { id } }`, vars: fileVars("held", nil), code: media.ECONFLICT},
	},
	"restoreFile": {
		{actor: "m2", query: `mutation($id: ID!) { restoreFile(id: $id) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { restoreFile(id: $id) { id } }`, vars: fileVars("org", nil), code: media.ENOTFOUND},
	},
	"emptyTrash": {
		{actor: "m2", query: `mutation { emptyTrash }`, code: media.EFORBIDDEN},
		{actor: "admin", query: `mutation { emptyTrash(bucket: "nope") }`, code: media.ENOTFOUND},
	},
	"setLegalHold": {
		{actor: "m2", query: `mutation($id: ID!) { setLegalHold(id: $id, hold: true) { id } }`, vars: fileVars("org", nil), code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { setLegalHold(id: $id, hold: false) { id } }`, vars: fileVars("held", nil), code: media.ENOTFOUND},
	},
	"trashFiles": {
		{actor: "m2", query: trashFilesQ, vars: idsVars("m2private", "org"), code: media.EFORBIDDEN},
		{actor: "m2", query: trashFilesQ, vars: idsVars("m2private", "res"), code: media.ENOTFOUND},
		{actor: "owner", query: trashFilesQ, vars: idsVars("org", "held"), code: media.ECONFLICT},
		{actor: "m2ro", query: trashFilesQ, vars: idsVars("m2private"), code: media.EFORBIDDEN},
		{actor: "outsider", query: trashFilesQ, vars: idsVars("org"), code: media.ENOTFOUND},
		{actor: "owner", query: trashFilesQ, vars: idsVars("org", "org"), code: media.EINVALID},
	},
	"restoreFiles": {
		{actor: "m2", query: restoreFilesQ, vars: idsVars("m2private", "org"), code: media.EFORBIDDEN},
		{actor: "m2", query: restoreFilesQ, vars: idsVars("m2private", "resP"), code: media.ENOTFOUND},
		{actor: "outsider", query: restoreFilesQ, vars: idsVars("org"), code: media.ENOTFOUND},
	},
	"deleteFiles": {
		{actor: "m2", query: `mutation($ids: [ID!]!) { deleteFiles(ids: $ids, force: true) }`, vars: idsVars("m2private", "org"), code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($ids: [ID!]!) { deleteFiles(ids: $ids, force: true) }`, vars: idsVars("m2private", "res"), code: media.ENOTFOUND},
		{actor: "owner", query: `mutation($ids: [ID!]!) { deleteFiles(ids: $ids, force: true) }`, vars: idsVars("org", "held"), code: media.ECONFLICT},
		{actor: "owner", query: deleteFilesQ, vars: idsVars("org", "resW"), code: media.ECONFLICT}, // in use
		{actor: "outsider", query: `mutation($ids: [ID!]!) { deleteFiles(ids: $ids, force: true) }`, vars: idsVars("org"), code: media.ENOTFOUND},
	},
	"updateFiles": {
		{actor: "m2", query: updateFilesQ, vars: idsInput(map[string]any{"caption": "x"}, "m2private", "resW"), code: media.EFORBIDDEN},
		{actor: "m2", query: updateFilesQ, vars: idsInput(map[string]any{"visibility": "PUBLIC"}, "m2private", "org"), code: media.EFORBIDDEN},
		{actor: "m2", query: updateFilesQ, vars: idsInput(map[string]any{"caption": "x"}, "m2private", "res"), code: media.ENOTFOUND},
		{actor: "m2ro", query: updateFilesQ, vars: idsInput(map[string]any{"caption": "x"}, "m2private"), code: media.EFORBIDDEN},
		{actor: "outsider", query: updateFilesQ, vars: idsInput(map[string]any{"caption": "x"}, "org"), code: media.ENOTFOUND},
	},
	"setLegalHolds": {
		{actor: "m2", query: setLegalHoldsQ, vars: holdVars("m2private"), code: media.EFORBIDDEN},
		{actor: "outsider", query: setLegalHoldsQ, vars: holdVars("held"), code: media.ENOTFOUND},
		{actor: "admin", query: setLegalHoldsQ, vars: holdVars("org", "gone"), code: media.ENOTFOUND},
	},
	"createBucket": {
		{actor: "m2", query: `mutation { createBucket(input: {name: "mine"}) { id } }`, code: media.EFORBIDDEN},
	},
	"updateBucket": {
		{actor: "m2", query: `mutation { updateBucket(input: {name: "org", access: RESTRICTED}) { id } }`, code: media.EFORBIDDEN},
		{actor: "admin", query: `mutation { updateBucket(input: {name: "globex-only", access: RESTRICTED}) { id } }`, code: media.ENOTFOUND},
	},
	"deleteBucket": {
		{actor: "m2", query: `mutation { deleteBucket(name: "org", force: true) }`, code: media.EFORBIDDEN},
		{actor: "admin", query: `mutation { deleteBucket(name: "org", force: true) }`, code: media.ECONFLICT}, // a held file
		{actor: "outsider", query: `mutation { deleteBucket(name: "org2", force: true) }`, code: media.ENOTFOUND},
		{actor: "admin", query: `mutation { deleteBucket(name: "globex-only", force: true) }`, code: media.ENOTFOUND},
	},
	"addMember": {
		{actor: "m2", query: `mutation { addMember(input: {email: "x@acme.test"}) { id } }`, code: media.EFORBIDDEN},
		{actor: "admin", query: `mutation { addMember(input: {email: "y@acme.test", role: OWNER}) { id } }`, code: media.EFORBIDDEN},
	},
	"updateMemberRole": {
		{actor: "admin", query: `mutation($u: ID!) { updateMemberRole(userId: $u, role: MEMBER) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"u": w.ids["owner"]} }, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($u: ID!) { updateMemberRole(userId: $u, role: ADMIN) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"u": w.ids["m1"]} }, code: media.ENOTFOUND},
	},
	"removeMember": {
		{actor: "admin", query: `mutation($u: ID!) { removeMember(userId: $u) }`,
			vars: func(w *world) map[string]any { return map[string]any{"u": w.ids["owner"]} }, code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($u: ID!) { removeMember(userId: $u) }`,
			vars: func(w *world) map[string]any { return map[string]any{"u": w.ids["m1"]} }, code: media.EFORBIDDEN},
	},
	"createApiKey": {
		{actor: "admin", query: createKeyQ, vars: keyVars("owner", media.ScopeMediaRead), code: media.EFORBIDDEN},
		{actor: "admin", query: createKeyQ, vars: keyVars("m1", media.ScopeContentRead), code: media.EFORBIDDEN},
		{actor: "m2", query: createKeyQ, vars: keyVars("m1", media.ScopeMediaRead), code: media.EFORBIDDEN},
		{actor: "m2ro", query: createKeyQ, vars: keyVars("", media.ScopeMediaCreate), code: media.EFORBIDDEN},
		{actor: "outsider", query: createKeyQ, vars: keyVars("m1", media.ScopeMediaRead), code: media.ENOTFOUND},
	},
	"createWebhook": {
		{actor: "m1", query: createWebhookQ, vars: func(w *world) map[string]any {
			return map[string]any{"i": map[string]any{"url": "http://127.0.0.1:9/m1"}}
		}, code: media.EFORBIDDEN},
		{actor: "outsider", query: createWebhookQ, vars: func(w *world) map[string]any {
			return map[string]any{"i": map[string]any{"url": "http://127.0.0.1:9/x", "bucket": "org"}}
		}, code: media.ENOTFOUND},
	},
	"updateWebhook": {
		{actor: "m1", query: `mutation($id: ID!) { updateWebhook(id: $id, input: {active: false}) { id } }`, vars: webhookVars, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { updateWebhook(id: $id, input: {active: false}) { id } }`, vars: webhookVars, code: media.ENOTFOUND},
	},
	"deleteWebhook": {
		{actor: "m1", query: `mutation($id: ID!) { deleteWebhook(id: $id) }`, vars: webhookVars, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { deleteWebhook(id: $id) }`, vars: webhookVars, code: media.ENOTFOUND},
	},
	"redeliverWebhookEvent": {
		{actor: "m1", query: redeliverQ, vars: webhookVars, code: media.EFORBIDDEN},
		{actor: "outsider", query: redeliverQ, vars: webhookVars, code: media.ENOTFOUND},
	},
	"revokeApiKey": {
		{actor: "admin", query: `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.keyIDs["owner"]} }, code: media.EFORBIDDEN},
		{actor: "m2", query: `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.keyIDs["m1"]} }, code: media.EFORBIDDEN},
		{actor: "outsider", query: `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`,
			vars: func(w *world) map[string]any { return map[string]any{"id": w.keyIDs["m1"]} }, code: media.ENOTFOUND},
	},
}

const (
	updateFileQ = `mutation($id: ID!, $i: UpdateFileInput!) { updateFile(id: $id, input: $i) { id } }`
	attachQ     = `mutation($t: ID!, $f: ID!) { attachFiles(targetId: $t, fileIds: [$f]) { __typename } }`
	createKeyQ  = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`
	redeliverQ  = `mutation($id: ID!, $e: ID!) { redeliverWebhookEvent(webhookId: $id, eventId: $e) { id } }`
)

// webhookVars names the world's webhook and an event it may redeliver.
func webhookVars(w *world) map[string]any {
	return map[string]any{"id": w.webhook, "e": w.event}
}

// fileVars is {"id": the world's file, "i": input} plus extra variables
// given as input's keys when they are not an UpdateFileInput.
// folderOf gives $p: the folder a file of the world is in, as the owner sees it.
func folderOf(file string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		f := w.e.ok(w.e.owner, `query($id: ID!) { file(id: $id) { path } }`, map[string]any{"id": w.files[file]})["file"].(map[string]any)
		return map[string]any{"p": f["path"]}
	}
}

func fileVars(file string, in map[string]any) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		v := map[string]any{"id": w.files[file]}
		if _, isUpload := in["f"]; isUpload {
			v["f"] = nil
		} else if in != nil {
			v["i"] = in
		}
		return v
	}
}

// idsVars is {"ids": the world's files}; a name the world does not have
// is an id of no file.
func idsVars(files ...string) func(w *world) map[string]any {
	return idsInput(nil, files...)
}

// holdVars is idsVars with "hold": true.
func holdVars(files ...string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		v := idsVars(files...)(w)
		v["hold"] = true
		return v
	}
}

// idsInput is idsVars with "i": input.
func idsInput(in map[string]any, files ...string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		ids := make([]string, len(files))
		for i, f := range files {
			if ids[i] = w.files[f]; ids[i] == "" {
				ids[i] = "file_00000000000000000000000000"
			}
		}
		v := map[string]any{"ids": ids}
		if in != nil {
			v["i"] = in
		}
		return v
	}
}

func postVars(which string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		return map[string]any{"id": map[string]string{"W": w.postW, "P": w.postP}[which]}
	}
}

func attachVars(post, file string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		return map[string]any{"t": map[string]string{"W": w.postW, "P": w.postP}[post], "f": w.files[file]}
	}
}

func keyVars(user, scope string) func(w *world) map[string]any {
	return func(w *world) map[string]any {
		in := map[string]any{"name": "k", "scopes": []string{scope}}
		if user != "" {
			in["userId"] = w.ids[user]
		}
		return map[string]any{"i": in}
	}
}

func base64Input(bucket, name string) map[string]any {
	return map[string]any{"bucket": bucket, "name": name, "mimeType": "image/png", "data": base64.StdEncoding.EncodeToString(pngBytes(2, 2))}
}

// policyWorld is newWorld with what the table needs besides: a second
// ORGANIZATION bucket, a held file, a private file of m2, an upload
// session of m1, keys' ids, and m2ro, m2's key with media:read only.
func policyWorld(t *testing.T, e *env) *world {
	w := newWorld(t, e)
	e.createBucket(e.owner, map[string]any{"name": "org2"})
	// A bucket of the other organization, by a name acme does not use:
	// acme's admin must not reach it.
	e.createBucket(w.keys["outsider"], map[string]any{"name": "globex-only"})
	held := e.mustUpload(w.keys["owner"], "org", upload{"held.png", "", pngBytes(9, 9)}, map[string]any{"path": "/legal/"})
	w.files["held"] = str(held["id"])
	e.ok(e.owner, `mutation($id: ID!) { setLegalHold(id: $id, hold: true, reason: "case 1") { id } }`, map[string]any{"id": held["id"]})
	m2p := e.mustUpload(w.keys["m2"], "", upload{"m2p.png", "", pngBytes(8, 9)}, map[string]any{"bucket": "attachments"})
	w.files["m2private"] = str(m2p["id"])
	team := e.mustUpload(w.keys["m1"], "org", upload{"team.png", "", pngBytes(7, 9)}, map[string]any{"path": "/team/"})
	w.files["team"] = str(team["id"])
	w.session = str(e.session(w.keys["m1"], map[string]any{"bucket": "org", "name": "s.bin", "size": 10, "mimeType": "application/octet-stream"})["id"])
	w.webhook, _ = e.webhook(map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"DELETED"}})
	w.event = e.lastEvent()
	w.keys["m2ro"] = e.newKey([]string{media.ScopeMediaRead, media.ScopeContentRead}, w.ids["m2"])
	w.keyIDs = map[string]string{}
	for _, actor := range []string{"owner", "m1"} {
		e.ok(w.keys[actor], createKeyQ, map[string]any{"i": map[string]any{"name": "spare", "scopes": []string{media.ScopeMediaRead}}})
		var id string
		if err := e.m.DB.Bun().NewRaw("SELECT id FROM api_keys WHERE user_id = ? AND name = 'spare'", w.ids[actor]).Scan(context.Background(), &id); err != nil {
			t.Fatal(err)
		}
		w.keyIDs[actor] = id
	}
	return w
}

// mutationFields lists the Mutation fields of the schema the server runs.
func mutationFields() []string {
	var out []string
	for _, f := range graph.NewExecutableSchema(graph.Config{}).Schema().Mutation.Fields {
		if !strings.HasPrefix(f.Name, "__") {
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}

func TestAuthorizationTable(t *testing.T) {
	fields := mutationFields()
	var missing []string
	for _, f := range fields {
		if len(authzTable[f]) == 0 {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("mutations without rows in the authorization table (add the requests CONTRACT §6 must refuse): %v", missing)
	}
	for name := range authzTable {
		if !slices.Contains(fields, name) {
			t.Errorf("the authorization table has rows for %s, which the schema does not have", name)
		}
	}
	each(t, func(t *testing.T, e *env) {
		w := policyWorld(t, e)
		before := w.snapshot(t)
		for _, name := range fields {
			for i, c := range authzTable[name] {
				var vars map[string]any
				if c.vars != nil {
					vars = c.vars(w)
				}
				var r *resp
				if c.file != "" {
					r = e.multipart(w.keys[c.actor], c.query, vars, map[string]upload{"0": {"f.png", "", pngBytes(3, 4)}},
						map[string][]string{"0": {"variables." + c.file}})
				} else {
					r = e.do(w.keys[c.actor], c.query, vars)
				}
				if r.code() != c.code {
					t.Errorf("%s #%d (%s): got %s, want %s", name, i+1, c.actor, r.raw, c.code)
				}
			}
		}
		if after := w.snapshot(t); after != before {
			t.Errorf("refused requests changed the world:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// snapshot describes the world's files (name, path, bucket, revision,
// visibility, texts, trash, hold), posts, conversations, members and keys,
// as the owner sees them.
func (w *world) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	ids := make([]string, 0, len(w.files))
	for _, id := range w.files {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d := w.e.ok(w.e.owner, `query($id: ID!) { file(id: $id) { name path bucket { name } revision visibility caption legalHold trashedAt
			usages { target { __typename } } revisions { number checksumSha256 } } }`, map[string]any{"id": id})
		fmt.Fprintf(&b, "%v\n", d["file"])
	}
	d := w.e.ok(w.e.owner, `{ posts(first: 100) { nodes { id title author { id } comments { nodes { id } } } } buckets { nodes { name access } }
		viewer { organization { id } } }`, nil)
	fmt.Fprintf(&b, "%v\n", d)
	for _, bucket := range []string{"org", "org2", "attachments"} {
		fmt.Fprintf(&b, "folders of %s: %v\n", bucket, w.e.ok(w.e.owner, `query($b: String!) { folders(bucket: $b) { nodes { path fileCount size } } }`,
			map[string]any{"b": bucket}))
	}
	d = w.e.ok(w.keys["outsider"], `{ buckets { nodes { name access } } }`, nil)
	fmt.Fprintf(&b, "outsider's %v\n", d)
	var rows []string
	if err := w.e.m.DB.Bun().NewRaw(`SELECT u.email || ':' || u.role FROM users AS u ORDER BY 1`).Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := w.e.m.DB.Bun().NewRaw(`SELECT k.id || (CASE WHEN k.revoked_at IS NULL THEN ' live' ELSE ' revoked' END) FROM api_keys AS k ORDER BY 1`).Scan(context.Background(), &keys); err != nil {
		t.Fatal(err)
	}
	var members []string
	if err := w.e.m.DB.Bun().NewRaw(`SELECT conversation_id || ':' || user_id FROM conversation_members ORDER BY 1`).Scan(context.Background(), &members); err != nil {
		t.Fatal(err)
	}
	var hooks []string
	if err := w.e.m.DB.Bun().NewRaw(`SELECT h.id || ' ' || h.url || (CASE WHEN h.active THEN ' on' ELSE ' off' END) FROM webhooks AS h ORDER BY 1`).
		Scan(context.Background(), &hooks); err != nil {
		t.Fatal(err)
	}
	var redeliveries int
	if err := w.e.m.DB.Bun().NewRaw(`SELECT count(*) FROM webhook_deliveries`).Scan(context.Background(), &redeliveries); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "%v\n%v\n%v\n%v %d\n%d\n", rows, keys, members, hooks, redeliveries, len(w.e.objects()))
	if st := w.e.sessionByID(w.keys["m1"], w.session)["state"]; st != "OPEN" {
		fmt.Fprintf(&b, "session %v\n", st)
	}
	return b.String()
}
