package media

import (
	"cmp"
	"io"
)

// Incoming is upload content that is still arriving with its request: a file
// part of a multipart request, read straight from the request body, so
// the bytes reach storage as they arrive. The parts of one request come
// one after the other: a service opens and reads each file it stores
// before it opens the next (an upload whose part comes later than one
// opened after it is set aside by the transport meanwhile).
type Incoming interface {
	// Open waits for the part's header and returns its content.
	Open() (IncomingContent, error)
}

// IncomingContent is an opened Incoming.
type IncomingContent struct {
	// Filename and ContentType are what the part's header says.
	Filename    string
	ContentType string
	// Content is read once. Size is its exact length, or -1 while its
	// bytes are still arriving; then Content may tell how long it
	// probably is with a SizeHint() int64 method (see WithSizeHint).
	Content io.Reader
	Size    int64
}

// sizeHinter is content of unknown length that knows how long it probably is.
type sizeHinter interface{ SizeHint() int64 }

// openIncoming opens the upload's content if it is Incoming: the part's file
// name and type fill the name, original name and declared type the
// upload left empty.
func openIncoming(in *UploadInput) error {
	pt, ok := in.Content.(Incoming)
	if !ok {
		return nil
	}
	pc, err := pt.Open()
	if err != nil {
		return err
	}
	in.Content, in.Size = pc.Content, pc.Size
	in.Name = cmp.Or(in.Name, pc.Filename)
	in.OriginalName = cmp.Or(in.OriginalName, pc.Filename)
	in.DeclaredType = cmp.Or(in.DeclaredType, pc.ContentType)
	return nil
}
