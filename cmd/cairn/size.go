package main

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeFlag is a byte count given as 1048576, 64MiB, 512KiB, 1GiB (or KB,
// MB, GB for powers of 1000); 0 is none.
type sizeFlag struct{ n *int64 }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	for _, u := range sizeUnits {
		if *f.n >= u.size && *f.n%u.size == 0 && u.size > 1 {
			return strconv.FormatInt(*f.n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(*f.n, 10)
}

var sizeUnits = []struct {
	name string
	size int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.n = n
	return nil
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.name); ok {
			t, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("want a size such as 64MiB, 512KiB or 0 for none, got %q", s)
	}
	return n * mult, nil
}
