package cairn

import "testing"

func TestParseMemory(t *testing.T) {
	good := map[string]int64{"2GiB": 2 << 30, "512Mi": 512 << 20, "1.5G": 1_500_000_000, "1000": 1000, " 64 MiB ": 64 << 20, "3KB": 3000, "7B": 7}
	for s, want := range good {
		if got, err := ParseMemory(s); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"2XB", "", "GiB", "-1GiB", "1e400", "0x10", "NaNGiB", "Inf", "ten", "1_000"} {
		if got, err := ParseMemory(s); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", s, got)
		}
	}
	for n, want := range map[int64]string{2 << 30: "2GiB", 1536 << 20: "1536MiB", 1000: "1000B", 4 << 10: "4KiB"} {
		if got := FormatMemory(n); got != want {
			t.Errorf("FormatMemory(%d) = %q, want %q", n, got, want)
		}
	}
}
