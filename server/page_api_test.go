package server

import (
	"net/http"
	"testing"
)

// TestModelInfoDemo checks that the server says which model it runs: demo is
// true for a model converted from the bundled demo checkpoint only, so the
// page can say that it knows only the synthetic world.
func TestModelInfoDemo(t *testing.T) {
	for _, tc := range []struct {
		name string
		tiny bool
		want bool
	}{
		{"demo checkpoint", false, true},
		{"another checkpoint", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{tinyModel: tc.tiny})
			if !tc.tiny && !e.trained {
				t.Skip("no demo checkpoint in testdata/models/demo")
			}
			var st struct {
				Model map[string]any `json:"model"`
			}
			if code, _ := e.call("GET", "/v1/index/status", readKey, nil, &st); code != http.StatusOK {
				t.Fatalf("index status: %d", code)
			}
			if got, ok := st.Model["demo"].(bool); !ok || got != tc.want {
				t.Errorf("model.demo = %v (%T), want %v", st.Model["demo"], st.Model["demo"], tc.want)
			}
			if st.Model["id"] != e.model.Info().ID {
				t.Errorf("model.id = %v, want %s", st.Model["id"], e.model.Info().ID)
			}
		})
	}
}
