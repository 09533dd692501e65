package app

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"imglish/vstore"
	"imglish/vstore/vstoretest"
)

func jsonObject(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestItemShowsEveryStoredField: the API's item carries every field of the
// stored item (vstoretest.FullItem sets each) under the same JSON key and with the same JSON value (the
// metadata indexed from EXIF above all, which the API once dropped), the
// files apart, which it shows as path, paths and mtime. A field added to
// vstore.Item or vstore.Meta fails here until the API shows it.
func TestItemShowsEveryStoredField(t *testing.T) {
	st := vstoretest.FullItem(t, "full")
	stored := jsonObject(t, st)
	api := jsonObject(t, itemOf(st))
	if len(stored) != reflect.TypeFor[vstore.Item]().NumField()-1+reflect.TypeFor[vstore.Meta]().NumField() {
		t.Fatalf("stored item shows %d JSON keys; every field should be set and shown: %v", len(stored), stored)
	}
	// derived are the API's fields that the stored item has no key for.
	derived := map[string]bool{"path": true, "paths": true, "mtime": true, "camera": true}
	for k, v := range stored {
		if k == "files" {
			continue
		}
		if got, ok := api[k]; !ok {
			t.Errorf("stored field %q is missing from the API item", k)
		} else if !bytes.Equal(got, v) {
			t.Errorf("field %q: API %s, stored %s", k, got, v)
		}
	}
	for k := range api {
		if _, ok := stored[k]; !ok && !derived[k] {
			t.Errorf("API field %q is neither stored nor derived", k)
		}
	}
	for _, tc := range []struct {
		key  string
		want any
	}{
		{"path", st.Files[0].Path},
		{"paths", []string{st.Files[0].Path, st.Files[1].Path}},
		{"mtime", st.Files[0].ModTime},
		{"camera", st.CameraMake + " " + st.CameraModel},
	} {
		want, err := json.Marshal(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(api[tc.key], want) {
			t.Errorf("derived %q: %s, want %s", tc.key, api[tc.key], want)
		}
	}
}

// TestItemSharesNothing: the API's item is a copy; changing it leaves the
// stored item as it was.
func TestItemSharesNothing(t *testing.T) {
	st := vstoretest.FullItem(t, "full")
	before := st.Clone()
	v := itemOf(st)
	v.Tags[0], v.Paths[0], v.GPS.Lat = "changed", "/changed", -1
	if !reflect.DeepEqual(st, before) {
		t.Fatalf("changing the API item changed the stored one: %+v", st)
	}
}
