package app_test

import (
	"errors"
	"fmt"
	"testing"

	"imglish/app"
	"imglish/encoder/preprocess"
	"imglish/vstore"
)

// TestKindOf: an error is classified by the first rule it wraps, through
// %w chains and errors.Join, and a fault of the core stays a fault whatever
// it wraps.
func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want app.Kind
	}{
		{"core sentinel", fmt.Errorf("%w: k out of range", app.ErrInvalid), app.KindInvalid},
		{"store sentinel", fmt.Errorf("item x: %w", vstore.ErrNotFound), app.KindNotFound},
		{"decoder sentinel", fmt.Errorf("decode: %w", preprocess.ErrUnsupported), app.KindUnsupported},
		{"joined", errors.Join(errors.New("first"), preprocess.ErrCorrupt), app.KindCorrupt},
		{"internal wins", fmt.Errorf("%w: read back: %w", app.ErrInternal, vstore.ErrNotFound), app.KindInternal},
		{"unknown", errors.New("disk on fire"), app.KindInternal},
		{"closed store", vstore.ErrClosed, app.KindUnavailable},
		{"closed app", app.ErrClosed, app.KindClosed},
	} {
		if got := app.KindOf(tc.err); got != tc.want {
			t.Errorf("%s: KindOf(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
