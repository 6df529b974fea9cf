// Package migrations holds the SQL migrations of the database schema, one set
// per dialect: postgres/ and sqlite/. Files are named NNNN_description.sql and
// are applied in name order by database.(*DB).Migrate, each in its own
// transaction. A line that is exactly "-- split" separates statements that
// must be sent to the server one at a time; without it a file's statements
// are sent together, which both drivers accept.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
