package tune_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The search starts goroutines; none may outlive a Run.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
