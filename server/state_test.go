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
	b.SetValue(labelSetPrefix+name, raw)
	if err := e.db.Apply(context.Background(), &b); err != nil {
		e.t.Fatal(err)
	}
}
