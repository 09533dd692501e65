package server

import (
	"bytes"
	"net/http"
	"os"
	"testing"

	"imglish/internal/testenv"
)

// TestItemLensAndGPS: the lens and GPS position the indexer reads from EXIF
// reach the API's item (they were stored but dropped on the way to JSON),
// and so does every other metadata field the store keeps.
func TestItemLensAndGPS(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		file              string
		wantLens, wantGPS bool
	}{
		{"gps/DSCN0010.jpg", false, true},
		{"hdr/iphone_hdr_YES.jpg", true, true},
	} {
		data, err := os.ReadFile(testenv.SharedData(t, "photos", "ianare-exif-samples", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		st, resp, err := e.upload(t.Context(), data)
		if err != nil || st != http.StatusCreated {
			t.Fatalf("%s: upload status %d, %v", tc.file, st, err)
		}
		stored, err := e.db.Item(resp.Item.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got Item
		if st, _ := e.call("GET", "/v1/items/"+resp.Item.ID, readKey, nil, &got); st != http.StatusOK {
			t.Fatalf("%s: GET item %d", tc.file, st)
		}
		if (stored.Lens != "") != tc.wantLens || (stored.GPS != nil) != tc.wantGPS {
			t.Fatalf("%s: stored lens %q, GPS %v; the fixture should have lens=%v GPS=%v", tc.file, stored.Lens, stored.GPS, tc.wantLens, tc.wantGPS)
		}
		// The whole of the stored metadata comes through, field for field
		// (compared as JSON: a time read back from JSON has an equal
		// instant and offset but another *time.Location).
		if a, b := mustJSON(t, got.Meta), mustJSON(t, stored.Meta); !bytes.Equal(a, b) {
			t.Errorf("%s: API metadata %s, stored %s", tc.file, a, b)
		}
		if got.Lens != stored.Lens {
			t.Errorf("%s: API lens %q, stored %q", tc.file, got.Lens, stored.Lens)
		}
		if (got.GPS == nil) != (stored.GPS == nil) || (got.GPS != nil && *got.GPS != *stored.GPS) {
			t.Errorf("%s: API GPS %+v, stored %+v", tc.file, got.GPS, stored.GPS)
		}
	}
}
