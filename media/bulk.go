package media

// Bulk mutations (trashFiles, restoreFiles, deleteFiles, updateFiles,
// setLegalHolds) change up to MaxBulkIDs files all or nothing, each file
// asked the same policy as the single-file mutation, which is the bulk one
// with one id: one transaction locks every row in id order in one query
// (lockFiles), the policy is asked of all of them with what it needs read
// at once (allowAll), and the writes and events are batched, so the number
// of queries does not grow with the number of files.

// MaxBulkIDs caps the files one bulk mutation changes.
const MaxBulkIDs = 500

// checkBulkIDs checks the ids of a bulk mutation: 1 to MaxBulkIDs, each
// once (a file given twice is a mistake, or a client that lost track:
// either way, say so rather than guess). Returns BAD_USER_INPUT.
func checkBulkIDs(ids []ID) error {
	if len(ids) == 0 || len(ids) > MaxBulkIDs {
		return Invalid("ids", "give 1 to %d file ids; %d were given", MaxBulkIDs, len(ids))
	}
	seen := make(map[ID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return Invalid("ids", "file %s is given twice", id)
		}
		seen[id] = true
	}
	return nil
}

// one is the single file of a bulk mutation given one id.
func one(fs []*File, err error) (*File, error) {
	if err != nil {
		return nil, err
	}
	return fs[0], nil
}
