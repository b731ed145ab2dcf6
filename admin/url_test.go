package admin

import "testing"

func TestTopologyURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:12211":              "http://127.0.0.1:12211/topology",
		"http://10.0.0.1:8080":         "http://10.0.0.1:8080/topology",
		"https://cache.example/custom": "https://cache.example/custom",
	} {
		u, err := New(in).topologyURL()
		if err != nil || u.String() != want {
			t.Errorf("topologyURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	if _, err := New("http://").topologyURL(); err == nil {
		t.Error("empty host accepted")
	}
}
