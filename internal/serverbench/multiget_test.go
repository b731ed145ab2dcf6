package serverbench

import "testing"

func TestValueLength(t *testing.T) {
	for line, want := range map[string]int{"VALUE k 0 100\r\n": 100, "VALUE k 0 0\r\n": 0, "VALUE k 0 1x\r\n": -1, "VALUE\r\n": -1} {
		n, ok := valueLength([]byte(line))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("%q: %d, want %d", line, n, want)
		}
	}
}
