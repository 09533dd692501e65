package server

import (
	"context"

	"imglish/store"
)

// setRawLabelSet stores raw as label set name's record (nil deletes it),
// bypassing the API's checks.
func (e *env) setRawLabelSet(name string, raw []byte) {
	e.t.Helper()
	var b store.Batch
	b.SetValue("labelset/"+name, raw) // app's key for a label set (app/state.go)
	if err := e.db.Apply(context.Background(), &b); err != nil {
		e.t.Fatal(err)
	}
}
