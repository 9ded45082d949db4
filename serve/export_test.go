package serve

// AppendFloat is appendFloat, for the external tests.
var AppendFloat = appendFloat
