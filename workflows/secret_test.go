package workflows

import (
	"strings"
	"testing"
)

// secret: true declares a string param with no default, used under with:
// only; BindParams' message for a missing one points at the environment.
func TestSecretParams(t *testing.T) {
	ok := `name: s
params:
  token: {type: string, secret: true}
  opt: {type: string, secret: true, required: false}
tasks:
  - {id: a, type: shell, with: {env: {T: "${{ params.token }}"}, argv: [curl, "-H", "Bearer ${{ params.token }}"]}}
`
	w, err := Parse("s.yaml", []byte(ok), opts())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := w.Param("token"); !d.Secret || !d.Required {
		t.Errorf("token: %+v", d)
	}
	if !strings.Contains(string(w.Canonical()), `"secret":true`) {
		t.Errorf("the canonical form lacks secret: %s", w.Canonical())
	}
	_, err = w.BindParams(nil)
	if err == nil || !strings.Contains(err.Error(), "set CAIRN_PARAM_TOKEN=VALUE") {
		t.Errorf("BindParams without the secret: %v", err)
	}
	if SecretEnv("my-token") != "CAIRN_PARAM_MY_TOKEN" || SecretPlaceholder("t") != "«secret:t»" {
		t.Error("SecretEnv or SecretPlaceholder changed")
	}

	for _, c := range []struct{ name, src, want string }{
		{"not a string", "params:\n  n: {type: int, secret: true}\ntasks:\n  - {id: a, type: noop}\n", "must be a string"},
		{"default", "params:\n  t: {type: string, secret: true, default: abc}\ntasks:\n  - {id: a, type: noop}\n", "cannot have a default"},
		{"when", "params:\n  t: {type: string, secret: true}\ntasks:\n  - {id: a, type: noop, when: '${{ params.t }} == \"x\"'}\n", "cannot decide a when:"},
	} {
		_, err := Parse("s.yaml", []byte("name: s\n"+c.src), opts())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
