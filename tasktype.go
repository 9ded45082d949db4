package cairn

// TypeInfo describes a task type: what it does, the params it takes under
// `with:`, the artifacts it reads under `inputs:` and the outputs it
// produces. Built-in types and plugins describe themselves with it, and the
// workflow validator checks files against it.
type TypeInfo struct {
	Name    string      `json:"name"`
	Summary string      `json:"summary"`
	Params  []ParamInfo `json:"params,omitempty"`
	Inputs  []PortInfo  `json:"inputs,omitempty"`
	Outputs []PortInfo  `json:"outputs,omitempty"`
	// OutputsParam, when set, names a `with:` key holding an object whose
	// keys are further outputs of the task (shell's declared output files).
	OutputsParam string `json:"outputs_param,omitempty"`
	// ValuesParam, when set, names a `with:` key holding an object whose
	// keys are further value outputs of the task (shell's JSON files read
	// back as values, which for_each and `when:` can use).
	ValuesParam string `json:"values_param,omitempty"`
	// OpenParams accepts `with:` keys not listed in Params (for types
	// whose params are free-form).
	OpenParams bool `json:"open_params,omitempty"`
	// Resources says that the type enforces a task's `resources:` (see
	// Resources), which it then receives in its params under
	// "resources"; a task of another type may not have them.
	Resources bool `json:"resources,omitempty"`
	// Cache is whether a task of the type reuses an earlier success with
	// the same cache key (see CacheKey) unless its workflow says
	// otherwise: CacheOptIn (the zero value: only with `cache: true`),
	// CacheAuto (unless `cache: false`) or CacheNever (`cache: true` is
	// refused).
	Cache CachePolicy `json:"cache,omitempty"`
}

// CachePolicy is a task type's caching default.
type CachePolicy string

// Cache policies.
const (
	// CacheOptIn: cached only when the task says `cache: true` (shell,
	// plugin types).
	CacheOptIn CachePolicy = ""
	// CacheAuto: cached unless the task says `cache: false` (the
	// deterministic ML types).
	CacheAuto CachePolicy = "auto"
	// CacheNever: never cached (noop, types whose success has an effect
	// on the store, such as deploy: a reuse would skip it, and types that
	// read what their params and inputs do not name, such as the
	// production model through tasks.Env.Models).
	CacheNever CachePolicy = "never"
)

// ParamKind is the JSON kind a param takes.
type ParamKind string

// Param kinds.
const (
	KindString   ParamKind = "string"
	KindInt      ParamKind = "int"
	KindFloat    ParamKind = "float" // ints are accepted too
	KindBool     ParamKind = "bool"
	KindDuration ParamKind = "duration" // a Go duration string such as "90s"
	KindList     ParamKind = "list"
	KindMap      ParamKind = "map"
	KindAny      ParamKind = "any"
)

// ParamInfo describes one `with:` param of a task type.
type ParamInfo struct {
	Name     string    `json:"name"`
	Kind     ParamKind `json:"kind"`
	Required bool      `json:"required,omitempty"`
	Default  any       `json:"default,omitempty"`
	Doc      string    `json:"doc,omitempty"`
	// Script marks a string param that is program text (shell's script):
	// a workflow never splices a ${{ }} reference into it. When the text
	// holds references, the param resolves to a ScriptText, the text and
	// the values apart, and the task type hands the values to the program
	// as data.
	Script bool `json:"script,omitempty"`
}

// ScriptText is the resolved value of a Script param that holds ${{ }}
// references: the literal pieces of the text and the referenced values,
// never joined. Text[i] comes before Values[i]; the last piece of Text
// comes after the last value (len(Text) == len(Values)+1).
type ScriptText struct {
	Text []string `json:"text"`
	// Values are the referenced values as text: a string as it is,
	// anything else as compact JSON.
	Values []string `json:"values"`
	// Refs name the references ("params.x"), for messages.
	Refs []string `json:"refs"`
}

// PortInfo describes one input or output of a task type.
type PortInfo struct {
	Name string `json:"name"`
	// Artifact is true when the value is an ArtifactRef rather than a
	// plain JSON value.
	Artifact bool   `json:"artifact,omitempty"`
	Required bool   `json:"required,omitempty"` // inputs only
	Doc      string `json:"doc,omitempty"`
}

// Param returns the description of param name.
func (t TypeInfo) Param(name string) (ParamInfo, bool) {
	for _, p := range t.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamInfo{}, false
}

// PluginRef names the plugin binary that ran an attempt: the provenance of
// code outside this binary, recorded with the attempt for its lineage.
type PluginRef struct {
	Name     string `json:"name"`     // file name in the plugins folder
	Version  string `json:"version"`  // the plugin's own version
	SHA256   string `json:"sha256"`   // lowercase hex of the binary, as pinned
	Protocol int    `json:"protocol"` // wire protocol version it spoke
}
